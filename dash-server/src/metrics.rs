//! Prometheus metrics (`GET /metrics`, text exposition format) via `prometheus-client`.
//!
//! Request counters and latency histograms are labelled by route *template* (never by the raw
//! path, whose claim ids would make label cardinality unbounded), method and status.

use std::time::Duration;

use dash_core::StoreStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of one HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route template, e.g. `/v1/claims/{claim_id}`.
    pub route: &'static str,
    /// HTTP method.
    pub method: String,
    /// Status code.
    pub status: u16,
}

/// A reason label (auth failures, rejects).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why.
    pub reason: &'static str,
}

#[derive(Clone)]
struct LatencyBuckets;

impl MetricConstructor<Histogram> for LatencyBuckets {
    fn new_metric(&self) -> Histogram {
        // 100 µs .. ~13 s.
        Histogram::new(exponential_buckets(0.0001, 2.0, 18))
    }
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, LatencyBuckets>,
    /// Claims committed by ingest (replays not counted).
    pub ingest_claims: Counter,
    /// Batches committed.
    pub ingest_batches: Counter,
    /// Batches answered as `replayed`.
    pub ingest_replayed: Counter,
    /// Retrieve calls answered.
    pub retrieve_queries: Counter,
    /// Claims returned by retrieve.
    pub retrieve_results: Counter,
    /// Claims forgotten.
    pub forgets: Counter,
    /// Authentication and authorization failures by reason.
    pub auth_failures: Family<ReasonLabels, Counter>,
    /// Requests refused before work by reason (`queue_full`, `rate_limited`, `body_too_large`,
    /// `timeout`, `read_only`), and connections refused (`peer_connection_limit`).
    pub rejects: Family<ReasonLabels, Counter>,
    /// Audit lines written.
    pub audit_records: Counter,
    /// Audit lines that failed to write.
    pub audit_errors: Counter,
    /// Requests admitted and waiting for a worker.
    pub queue_depth: Gauge,
    /// Store calls running.
    pub in_flight: Gauge,
    /// Client connections open.
    pub connections: Gauge,
    /// Connections closed by a timeout (headers too slow, or idle too long).
    pub connection_timeouts: Counter,
    store: StoreGauges,
    read_only: Gauge,
}

#[derive(Default)]
struct StoreGauges {
    claims: Gauge,
    last_lsn: Gauge,
    checkpoint_lsn: Gauge,
    manifest_generation: Gauge,
    wal_files: Gauge,
    wal_bytes: Gauge,
    segments: Gauge,
    segment_bytes: Gauge,
    memtable_versions: Gauge,
    wal_records_written: Gauge,
    wal_syncs: Gauge,
    checkpoints: Gauge,
    merges: Gauge,
    checkpoint_bytes: Gauge,
    merge_bytes: Gauge,
    poisoned: Gauge,
    index_building: Gauge,
    dense_graph_docs: Gauge,
    dense_mapped_docs: Gauge,
    dense_exact_docs: Gauge,
    dense_graphs: Gauge,
    graphs_loaded: Gauge,
    graphs_discarded: Gauge,
    catalog_image_loaded: Gauge,
    writer_busy_micros: Gauge,
    writer_lock_wait_micros: Gauge,
    tenant_changes_deferred: Gauge,
    tenant_changes_waiting: Gauge,
    reader_apply_wait_micros: Gauge,
    detected_edges: Gauge,
    detected_edges_built: Gauge,
    detected_edges_dropped: Gauge,
    detection_pairs_judged: Gauge,
    detection_watermark_lsn: Gauge,
    detection_lag_commits: Gauge,
    detection_lag_claims: Gauge,
    detection_lag_ms: Gauge,
    detection_claims_processed: Gauge,
    embedded_vectors: Gauge,
}

fn counter(registry: &mut Registry, name: &str, help: &str) -> Counter {
    let metric = Counter::default();
    registry.register(name, help, metric.clone());
    metric
}

fn gauge(registry: &mut Registry, name: &str, help: &str) -> Gauge {
    let metric = Gauge::default();
    registry.register(name, help, metric.clone());
    metric
}

impl Metrics {
    /// Registers every metric.
    #[must_use]
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("dash");
        let requests = Family::<RequestLabels, Counter>::default();
        r.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let latency = Family::new_with_constructor(LatencyBuckets);
        r.register(
            "http_request_duration_seconds",
            "HTTP request latency by route, method and status",
            latency.clone(),
        );
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        r.register(
            "auth_failures",
            "Authentication and authorization failures",
            auth_failures.clone(),
        );
        let rejects = Family::<ReasonLabels, Counter>::default();
        r.register(
            "rejects",
            "Requests refused before any store work",
            rejects.clone(),
        );
        let store = StoreGauges {
            claims: gauge(&mut r, "store_claims", "Live claims across tenants"),
            last_lsn: gauge(&mut r, "wal_last_lsn", "Newest committed WAL LSN"),
            checkpoint_lsn: gauge(
                &mut r,
                "checkpoint_lsn",
                "LSN up to which records are in segments",
            ),
            manifest_generation: gauge(
                &mut r,
                "manifest_generation",
                "Current manifest generation",
            ),
            wal_files: gauge(&mut r, "wal_files", "WAL files on disk"),
            wal_bytes: gauge(&mut r, "wal_bytes", "Bytes in WAL files"),
            segments: gauge(&mut r, "segments", "Segments in the current manifest"),
            segment_bytes: gauge(&mut r, "segment_bytes", "Bytes in segments"),
            memtable_versions: gauge(&mut r, "memtable_versions", "Versions not yet checkpointed"),
            wal_records_written: gauge(
                &mut r,
                "wal_records_written",
                "WAL records written since open",
            ),
            wal_syncs: gauge(&mut r, "wal_syncs", "WAL fsyncs since open"),
            checkpoints: gauge(&mut r, "checkpoints", "Checkpoints since open"),
            merges: gauge(&mut r, "merges", "Segment merges since open"),
            checkpoint_bytes: gauge(
                &mut r,
                "checkpoint_bytes",
                "Segment bytes checkpoints wrote since open",
            ),
            merge_bytes: gauge(
                &mut r,
                "merge_bytes",
                "Segment bytes merges rewrote since open (write amplification: (checkpoint_bytes + merge_bytes) / checkpoint_bytes)",
            ),
            poisoned: gauge(
                &mut r,
                "store_poisoned",
                "1 when the store refuses writes after an I/O failure",
            ),
            index_building: gauge(&mut r, "index_building", "1 while background indexing runs"),
            dense_graph_docs: gauge(&mut r, "dense_graph_docs", "Dense documents in HNSW graphs"),
            dense_mapped_docs: gauge(
                &mut r,
                "dense_mapped_docs",
                "Dense documents in graphs viewed from their mapped graph files",
            ),
            dense_exact_docs: gauge(
                &mut r,
                "dense_exact_docs",
                "Dense documents scanned exactly",
            ),
            dense_graphs: gauge(&mut r, "dense_graphs", "HNSW graphs a dense search visits"),
            graphs_loaded: gauge(
                &mut r,
                "graphs_loaded",
                "HNSW graphs loaded from their files at open (not rebuilt)",
            ),
            graphs_discarded: gauge(
                &mut r,
                "graphs_discarded",
                "Graph files found unusable at open and rebuilt",
            ),
            catalog_image_loaded: gauge(
                &mut r,
                "catalog_image_loaded",
                "1 when the open read the catalog image of the last clean close (no re-indexing)",
            ),
            writer_busy_micros: gauge(
                &mut r,
                "writer_busy_micros",
                "Microseconds the store's writer spent on write groups since open",
            ),
            writer_lock_wait_micros: gauge(
                &mut r,
                "writer_lock_wait_micros",
                "Of writer_busy_micros, the wait for the state lock held by others (background work, queries taking their tenant)",
            ),
            tenant_changes_deferred: gauge(
                &mut r,
                "tenant_changes_deferred",
                "Changes the writer left in a tenant's inbox instead of waiting for its queries, since open",
            ),
            tenant_changes_waiting: gauge(
                &mut r,
                "tenant_changes_waiting",
                "Changes waiting in tenants' inboxes for the next reader or change",
            ),
            reader_apply_wait_micros: gauge(
                &mut r,
                "reader_apply_wait_micros",
                "Microseconds readers waited for a tenant's running queries to apply its inbox, since open",
            ),
            detected_edges: gauge(
                &mut r,
                "detected_edges",
                "Detected contradiction/succession edges held",
            ),
            detected_edges_built: gauge(
                &mut r,
                "detected_edges_built",
                "Detected edges built since open",
            ),
            detected_edges_dropped: gauge(
                &mut r,
                "detected_edges_dropped",
                "Detected edges dropped (degree cap or confidence floor) since open",
            ),
            detection_pairs_judged: gauge(
                &mut r,
                "detection_pairs_judged",
                "Claim pairs handed to the contradiction detector since open",
            ),
            detection_watermark_lsn: gauge(
                &mut r,
                "detection_watermark_lsn",
                "Every commit up to this LSN has been through detection",
            ),
            detection_lag_commits: gauge(
                &mut r,
                "detection_lag_commits",
                "Commits waiting for the detection stage",
            ),
            detection_lag_claims: gauge(
                &mut r,
                "detection_lag_claims",
                "Claim versions waiting for the detection stage",
            ),
            detection_lag_ms: gauge(
                &mut r,
                "detection_lag_ms",
                "How long the oldest commit waiting for detection has waited, in ms",
            ),
            detection_claims_processed: gauge(
                &mut r,
                "detection_claims_processed",
                "Claim versions the detection stage processed since open",
            ),
            embedded_vectors: gauge(
                &mut r,
                "embedded_vectors",
                "Vectors the store's embedder made since open",
            ),
        };
        Self {
            ingest_claims: counter(&mut r, "ingest_claims", "Claims committed"),
            ingest_batches: counter(&mut r, "ingest_batches", "Batches committed"),
            ingest_replayed: counter(&mut r, "ingest_replayed", "Batches answered as replayed"),
            retrieve_queries: counter(&mut r, "retrieve_queries", "Retrieve calls answered"),
            retrieve_results: counter(&mut r, "retrieve_results", "Claims returned by retrieve"),
            forgets: counter(&mut r, "forgets", "Claims forgotten"),
            audit_records: counter(&mut r, "audit_records", "Audit lines written"),
            audit_errors: counter(&mut r, "audit_errors", "Audit lines that failed to write"),
            queue_depth: gauge(&mut r, "queue_depth", "Requests waiting for a worker"),
            in_flight: gauge(&mut r, "in_flight", "Store calls running"),
            connections: gauge(&mut r, "connections", "Client connections open"),
            connection_timeouts: counter(
                &mut r,
                "connection_timeouts",
                "Connections closed for slow headers or idleness",
            ),
            read_only: gauge(&mut r, "read_only", "1 while mutations are refused"),
            registry: r,
            requests,
            latency,
            auth_failures,
            rejects,
            store,
        }
    }

    /// Records one finished request.
    pub fn observe_request(&self, route: &'static str, method: &str, status: u16, took: Duration) {
        let labels = RequestLabels {
            route,
            method: method.to_owned(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Counts an auth failure.
    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts a reject.
    pub fn reject(&self, reason: &'static str) {
        self.rejects.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// The exposition text, with the store gauges read from `stats`.
    pub fn render(&self, stats: &StoreStats, read_only: bool) -> String {
        let g = &self.store;
        let set = |gauge: &Gauge, v: u64| {
            gauge.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        set(&g.claims, stats.claims);
        set(&g.last_lsn, stats.last_lsn.0);
        set(&g.checkpoint_lsn, stats.checkpoint_lsn.0);
        set(&g.manifest_generation, stats.manifest_generation);
        set(&g.wal_files, stats.wal_files as u64);
        set(&g.wal_bytes, stats.wal_bytes);
        set(&g.segments, stats.segments as u64);
        set(&g.segment_bytes, stats.segment_bytes);
        set(&g.memtable_versions, stats.memtable_versions as u64);
        set(&g.wal_records_written, stats.records_written);
        set(&g.wal_syncs, stats.wal_syncs);
        set(&g.checkpoints, stats.checkpoints);
        set(&g.merges, stats.merges);
        set(&g.checkpoint_bytes, stats.checkpoint_bytes);
        set(&g.merge_bytes, stats.merge_bytes);
        set(&g.poisoned, u64::from(stats.poisoned.is_some()));
        set(&g.index_building, u64::from(stats.index_building));
        set(&g.dense_graph_docs, stats.dense_graph_docs);
        set(&g.dense_mapped_docs, stats.dense_mapped_docs);
        set(&g.dense_exact_docs, stats.dense_exact_docs);
        set(&g.dense_graphs, stats.dense_graphs as u64);
        set(&g.graphs_loaded, stats.graphs_loaded);
        set(&g.graphs_discarded, stats.graphs_discarded);
        set(
            &g.catalog_image_loaded,
            u64::from(stats.catalog_image_loaded),
        );
        set(&g.writer_busy_micros, stats.writer_busy_micros);
        set(&g.writer_lock_wait_micros, stats.writer_lock_wait_micros);
        set(&g.tenant_changes_deferred, stats.tenant_changes_deferred);
        set(&g.tenant_changes_waiting, stats.tenant_changes_waiting);
        set(&g.reader_apply_wait_micros, stats.reader_apply_wait_micros);
        set(&g.detected_edges, stats.detected_edges);
        set(&g.detected_edges_built, stats.detected_edges_built);
        set(
            &g.detected_edges_dropped,
            stats.detected_edges_dropped_degree + stats.detected_edges_dropped_floor,
        );
        set(&g.detection_pairs_judged, stats.detection_pairs_judged);
        set(&g.detection_watermark_lsn, stats.detection_watermark.0);
        set(&g.detection_lag_commits, stats.detection_lag_commits);
        set(&g.detection_lag_claims, stats.detection_lag_claims);
        set(&g.detection_lag_ms, stats.detection_lag_ms);
        set(
            &g.detection_claims_processed,
            stats.detection_claims_processed,
        );
        set(&g.embedded_vectors, stats.embedded_vectors);
        set(&self.read_only, u64::from(read_only));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("metrics encoding failed");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
