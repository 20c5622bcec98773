//! The mutable in-memory part: versions committed since the last checkpoint, by key.

use std::collections::BTreeMap;

use crate::detect::record::TenantDerived;
use crate::model::{ClaimId, ClaimVersion, TenantId, VersionBody};
use crate::segment::{CommitMeta, SegmentBuilder};

/// Versions committed since the last checkpoint, and the commits that carried `commit_id`s.
///
/// Keys are nested by tenant so every tenant's claims form one contiguous, sorted range (the
/// order segments are written in).
#[derive(Debug, Default)]
pub(crate) struct Memtable {
    claims: BTreeMap<TenantId, BTreeMap<ClaimId, Vec<ClaimVersion>>>,
    commits: BTreeMap<(TenantId, String), CommitMeta>,
    /// What the detection stage derived (edges, store-made vectors), by tenant, in order.
    derived: BTreeMap<TenantId, TenantDerived>,
    versions: usize,
}

impl Memtable {
    /// Number of versions held.
    pub(crate) fn version_count(&self) -> usize {
        self.versions
    }

    /// Appends a version (versions of a key arrive in increasing LSN order).
    pub(crate) fn insert(&mut self, tenant: &TenantId, claim: &ClaimId, version: ClaimVersion) {
        self.versions += 1;
        let per_tenant = match self.claims.get_mut(tenant) {
            Some(m) => m,
            None => self.claims.entry(tenant.clone()).or_default(),
        };
        match per_tenant.get_mut(claim) {
            Some(v) => v.push(version),
            None => {
                per_tenant.insert(claim.clone(), vec![version]);
            }
        }
    }

    pub(crate) fn insert_commit(&mut self, tenant: &TenantId, commit_id: &str, meta: CommitMeta) {
        self.commits
            .insert((tenant.clone(), commit_id.to_owned()), meta);
    }

    /// Appends what the detection stage derived for a tenant.
    pub(crate) fn insert_derived(&mut self, derived: &TenantDerived) {
        match self.derived.get_mut(&derived.tenant) {
            Some(d) => d.extend(derived),
            None => {
                self.derived.insert(derived.tenant.clone(), derived.clone());
            }
        }
    }

    /// The versions of a key held here, oldest first.
    pub(crate) fn versions(&self, tenant: &TenantId, claim: &ClaimId) -> Option<&[ClaimVersion]> {
        self.claims.get(tenant)?.get(claim).map(Vec::as_slice)
    }

    /// The newest version of a key held here: its number and whether it is a tombstone.
    pub(crate) fn latest(&self, tenant: &TenantId, claim: &ClaimId) -> Option<(u32, bool)> {
        let v = self.versions(tenant, claim)?.last()?;
        Some((v.version, matches!(v.body, VersionBody::Tombstone)))
    }

    /// Writes the union of `tables` (oldest first) into a segment builder, in key order; the
    /// error is the builder's file's.
    pub(crate) fn write_all(
        tables: &[&Memtable],
        builder: &mut SegmentBuilder,
    ) -> std::io::Result<()> {
        let mut merged: BTreeMap<(&TenantId, &ClaimId), Vec<&ClaimVersion>> = BTreeMap::new();
        let mut commits: BTreeMap<&(TenantId, String), &CommitMeta> = BTreeMap::new();
        let mut derived: BTreeMap<&TenantId, TenantDerived> = BTreeMap::new();
        for table in tables {
            for (tenant, d) in &table.derived {
                derived
                    .entry(tenant)
                    .or_insert_with(|| TenantDerived::new(tenant.clone()))
                    .extend(d);
            }
            for (tenant, claims) in &table.claims {
                for (claim, versions) in claims {
                    merged
                        .entry((tenant, claim))
                        .or_default()
                        .extend(versions.iter());
                }
            }
            commits.extend(table.commits.iter());
        }
        for ((tenant, claim), versions) in merged {
            builder.add_claim(tenant, claim, versions.into_iter())?;
        }
        for ((tenant, commit_id), meta) in commits {
            builder.add_commit(tenant, commit_id, meta);
        }
        for d in derived.values() {
            builder.add_derived(d);
        }
        Ok(())
    }
}
