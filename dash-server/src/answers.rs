//! The JSON answers about one claim, shared by the HTTP routes and the MCP server's embedded
//! backend so both say exactly the same thing.

use dash_core::{ClaimId, ClaimRecord, ClaimVersion, TenantId, VersionInfo};
use serde::Serialize;

/// `GET /v1/claims/{id}`: the current version with evidence, edges and history.
#[derive(Serialize)]
pub struct ClaimAnswer<'a> {
    /// The claim's tenant.
    pub tenant_id: &'a TenantId,
    /// The claim.
    pub claim_id: &'a ClaimId,
    /// The current version, flattened beside the key.
    #[serde(flatten)]
    pub record: &'a ClaimRecord,
}

/// `GET /v1/claims/{id}/versions`: every kept version, oldest first.
#[derive(Serialize)]
pub struct VersionsAnswer<'a> {
    /// The claim's tenant.
    pub tenant_id: &'a TenantId,
    /// The claim.
    pub claim_id: &'a ClaimId,
    /// True when the latest version is a `forget`'s tombstone.
    pub forgotten: bool,
    /// The versions with their content; for a forgotten claim only their version fields, so a
    /// forgotten text is never served again.
    pub versions: VersionList<'a>,
}

/// The versions of a [`VersionsAnswer`].
#[derive(Serialize)]
#[serde(untagged)]
pub enum VersionList<'a> {
    /// With content (`claim`, `evidence`, `edges`).
    Full(&'a [ClaimVersion]),
    /// Version fields only.
    Withheld(Vec<VersionInfo>),
}

impl<'a> VersionsAnswer<'a> {
    /// The answer for `versions` (oldest first, as `Store::versions` gives them); `None` when
    /// the claim is unknown.
    #[must_use]
    pub fn new(
        tenant_id: &'a TenantId,
        claim_id: &'a ClaimId,
        versions: &'a [ClaimVersion],
    ) -> Option<Self> {
        let latest = versions.last()?;
        let forgotten = latest.item().is_none();
        Some(Self {
            tenant_id,
            claim_id,
            forgotten,
            versions: if forgotten {
                VersionList::Withheld(versions.iter().map(VersionInfo::from).collect())
            } else {
                VersionList::Full(versions)
            },
        })
    }
}
