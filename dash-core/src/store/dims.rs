//! Embedding dimensions (the store's, or each tenant's) and the model each tenant's vectors
//! come from.

use std::collections::BTreeMap;

use crate::model::TenantId;

/// The embedding dimension every claim and query of a tenant must have.
///
/// A store opened with a dimension (or whose manifest predates per-tenant dimensions) has one
/// for every tenant; otherwise each tenant's first embedding fixes that tenant's, so one
/// tenant's writes never decide what another may write (tenants may use different models).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Dimensions {
    /// Every tenant's dimension, when the store has one.
    pub(crate) store: Option<u32>,
    /// Each tenant's, fixed by its first embedding (only when `store` is `None`).
    pub(crate) tenants: BTreeMap<TenantId, u32>,
    /// The model of each tenant's vectors, fixed by the first vector that names one (a
    /// caller's `embedding_model`, or the store embedder's); vectors of two models never mix.
    pub(crate) models: BTreeMap<TenantId, String>,
}

impl Dimensions {
    /// The dimension `tenant`'s embeddings must have, once fixed.
    pub(crate) fn of(&self, tenant: &TenantId) -> Option<u32> {
        self.store.or_else(|| self.tenants.get(tenant).copied())
    }

    /// The model of `tenant`'s vectors, once fixed.
    pub(crate) fn model(&self, tenant: &TenantId) -> Option<&str> {
        self.models.get(tenant).map(String::as_str)
    }

    /// Fixes `tenant`'s model unless it already has one.
    pub(crate) fn fix_model(&mut self, tenant: &TenantId, model: &str) {
        if !self.models.contains_key(tenant) {
            self.models.insert(tenant.clone(), model.to_owned());
        }
    }

    /// Fixes `tenant`'s dimension to `len` unless it already has one.
    pub(crate) fn fix(&mut self, tenant: &TenantId, len: usize) {
        if self.of(tenant).is_none() {
            if let Ok(dim) = u32::try_from(len) {
                self.tenants.insert(tenant.clone(), dim);
            }
        }
    }
}
