//! Embedding dimensions: the store's, or each tenant's.

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
}

impl Dimensions {
    /// The dimension `tenant`'s embeddings must have, once fixed.
    pub(crate) fn of(&self, tenant: &TenantId) -> Option<u32> {
        self.store.or_else(|| self.tenants.get(tenant).copied())
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
