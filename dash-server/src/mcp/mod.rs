//! `dash mcp`: DASH as a Model Context Protocol server on stdio (the official Rust SDK,
//! `rmcp`), so an agent can remember, recall, look back, follow changes and forget.
//!
//! The tools act on a store this process opens (`--data-dir`, the directory `dash serve`
//! uses) or on a running `dash serve` (`--url`): a store directory has one owner at a time, so
//! while a server holds it, point `dash mcp` at the server. Either way the tools send the HTTP
//! contract's requests and give its answers ([`backend`]).
//!
//! Tenancy: `--tenant T` fixes the tenant; a call naming another is refused (`forbidden`).
//! Without it each call may name its `tenant`, and one that names none uses `default`. Over
//! `--url` the server's credentials and scopes apply as well.

pub mod backend;
pub mod remote;
pub mod tools;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool, tool_handler, tool_router, ServerHandler, ServiceExt};
use serde_json::{json, Value};

use backend::{Backend, Failure};
use remote::{Credentials, Remote};
use tools::{ChangesArgs, ForgetArgs, HistoryArgs, Named, RecallArgs, RememberArgs};

use crate::config::ServeConfig;

/// The tenant of calls that name none, when `--tenant` is not given.
pub const DEFAULT_TENANT: &str = "default";

/// How long `remember` waits for contradiction detection to judge the new claim before it
/// answers (it answers anyway; `recall` shows conflicts found later).
const REMEMBER_DETECTION_WAIT_MS: u64 = 2_000;

/// The settings of `dash mcp`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("memory").required(true).args(["data_dir", "url"])))]
pub struct McpArgs {
    /// Open the store in this directory (the `--data-dir` of `dash serve`; the store lives in
    /// `<DIR>/store`). It must not be held by a running server: use `--url` then.
    #[arg(long, env = "DASH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Act on a running `dash serve` at this address, e.g. http://127.0.0.1:7700.
    #[arg(long, env = "DASH_URL", conflicts_with = "data_dir")]
    pub url: Option<String>,
    /// Serve this tenant only. Default: each call names its tenant, or uses `default`.
    #[arg(long, env = "DASH_TENANT")]
    pub tenant: Option<String>,
    /// With `--url`: the API key (sent as X-API-Key).
    #[arg(long, env = "DASH_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// With `--url`: a JWT (sent as Authorization: Bearer).
    #[arg(long, env = "DASH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// With `--url`: the secret that signs writes (the server's DASH_SIGNING_SECRET).
    #[arg(long, env = "DASH_SIGNING_SECRET", hide_env_values = true)]
    pub signing_secret: Option<String>,
    /// With `--data-dir`: the embedder's model folder (as `dash serve --embedder`), for
    /// semantic recall and plain-text contradiction detection. Default: lexical recall only.
    #[arg(long, env = "DASH_EMBEDDER")]
    pub embedder: Option<PathBuf>,
    /// With `--url`: longest wait for one answer, in seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
}

/// Why `dash mcp` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// A setting is wrong.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The store did not open (for example, a server holds it).
    #[error(transparent)]
    Open(#[from] crate::ServeError),
    /// The MCP session failed.
    #[error("MCP session: {0}")]
    Session(String),
}

/// Runs the MCP server on stdin/stdout until the client closes it.
pub async fn run(args: McpArgs) -> Result<(), McpError> {
    let backend = match (&args.data_dir, &args.url) {
        (Some(dir), _) => {
            let config = store_config(dir, &args)?;
            let store = crate::server::open_store(&config).await?;
            tracing::info!(store = %config.store_dir().display(), "dash mcp: store open");
            Backend::Embedded(Arc::new(store))
        }
        (None, Some(url)) => {
            let credentials = Credentials {
                api_key: args.api_key.clone(),
                token: args.token.clone(),
                signing_secret: args.signing_secret.clone(),
            };
            let timeout = Duration::from_secs(args.timeout_secs.max(1));
            Backend::Remote(Remote::new(url, credentials, timeout).map_err(McpError::Config)?)
        }
        (None, None) => {
            return Err(McpError::Config(
                "give --data-dir DIR or --url URL".to_owned(),
            ))
        }
    };
    let memory = Memory::new(backend, args.tenant.clone());
    let store = match memory.backend.as_ref() {
        Backend::Embedded(store) => Some(Arc::clone(store)),
        Backend::Remote(_) => None,
    };
    let service = memory
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| McpError::Session(e.to_string()))?;
    let ended = service.waiting().await;
    if let Some(store) = store {
        close(store).await;
    }
    ended
        .map(|_| ())
        .map_err(|e| McpError::Session(e.to_string()))
}

/// The store settings of `--data-dir`: `dash serve`'s, from the same `DASH_*` variables
/// (durability, detection, newer-supersedes, feed retention, ...), validated the same way;
/// `--data-dir` and `--embedder` win. Nothing listens, so the address and credentials of the
/// environment play no part.
fn store_config(dir: &std::path::Path, args: &McpArgs) -> Result<ServeConfig, McpError> {
    #[derive(clap::Parser)]
    struct FromEnvironment {
        #[command(flatten)]
        serve: crate::ServeArgs,
    }
    use clap::Parser as _;
    let mut serve = FromEnvironment::try_parse_from(["dash"])
        .map_err(|e| McpError::Config(e.to_string()))?
        .serve;
    serve.data_dir = Some(dir.to_path_buf());
    serve.bind = Some("127.0.0.1:0".to_owned());
    if args.embedder.is_some() {
        serve.embedder.clone_from(&args.embedder);
    }
    ServeConfig::from_args(serve).map_err(|e| McpError::Config(e.to_string()))
}

/// Closes the store once the session's last handle is gone (every acknowledged write is
/// durable already; closing stops the background work in order).
async fn close(mut store: Arc<dash_core::Store>) {
    for _ in 0..100 {
        match Arc::try_unwrap(store) {
            Ok(owned) => {
                if let Err(err) = tokio::task::spawn_blocking(move || owned.close())
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
                {
                    tracing::error!(error = %err, "closing the store failed");
                }
                return;
            }
            Err(shared) => store = shared,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::warn!("the store is still shared at exit; dropping it");
}

/// The MCP server: five tools over one backend.
#[derive(Clone)]
pub struct Memory {
    backend: Arc<Backend>,
    tenant: Option<String>,
    tool_router: ToolRouter<Self>,
}

impl Memory {
    /// A server over `backend`, fixed to `tenant` when given.
    #[must_use]
    pub fn new(backend: Backend, tenant: Option<String>) -> Self {
        Self {
            backend: Arc::new(backend),
            tenant,
            tool_router: Self::tool_router(),
        }
    }

    /// The tenant a call acts on.
    fn tenant(&self, asked: Option<&str>) -> Result<String, Failure> {
        match (&self.tenant, asked) {
            (Some(fixed), Some(asked)) if asked != fixed => Err(Failure::new(
                "forbidden",
                format!("this MCP server serves the tenant `{fixed}` only, not `{asked}`"),
            )),
            (Some(fixed), _) => Ok(fixed.clone()),
            (None, Some(asked)) => Ok(asked.to_owned()),
            (None, None) => Ok(DEFAULT_TENANT.to_owned()),
        }
    }
}

/// A tool's answer: the JSON answer as structured content (and as text), or the contract's
/// error body with `isError` set, which the calling model reads and can act on.
fn answer(result: Result<Value, Failure>) -> CallToolResult {
    match result {
        Ok(value) => CallToolResult::structured(value),
        Err(failure) => CallToolResult::structured_error(failure.body()),
    }
}

#[tool_router]
impl Memory {
    /// Remembers a claim, with optional source, evidence and validity; answers the receipt and
    /// the stored claims it conflicts with.
    #[tool(
        description = "Store a fact (a short, self-contained claim) in long-term memory, with \
        optional source, evidence for or against it, entities and the time span it holds in. \
        Answers the receipt (claim_id, version) and the remembered claims it conflicts with, \
        so contradictions are seen at once."
    )]
    async fn remember(
        &self,
        Parameters(Named(args)): Parameters<Named<RememberArgs>>,
    ) -> CallToolResult {
        answer(self.remember_claim(args).await)
    }

    /// The claims answering a query, with evidence, citations and conflicts.
    #[tool(
        description = "Recall the remembered claims that answer a question, best first, each \
        with its supporting and contradicting evidence, citations (source, chunk, span), the \
        claims it conflicts with, and its score breakdown. Filter by entities, sources, the \
        time a claim holds in the world (as_of) or what memory knew at a time (recorded_as_of).",
        annotations(read_only_hint = true)
    )]
    async fn recall(
        &self,
        Parameters(Named(args)): Parameters<Named<RecallArgs>>,
    ) -> CallToolResult {
        let run = async {
            let tenant = self.tenant(args.tenant.as_deref())?;
            let request = tools::recall_request(&args, &tenant)?;
            self.backend.retrieve(request).await
        };
        answer(run.await)
    }

    /// A claim's versions, as of a recorded or valid time.
    #[tool(
        description = "Show a claim's history: every version memory recorded (oldest first, \
        with text, evidence and when it was recorded), and which one is current. \
        recorded_as_of limits it to what memory knew then; as_of picks the version that holds \
        in the world at that time.",
        annotations(read_only_hint = true)
    )]
    async fn history(
        &self,
        Parameters(Named(args)): Parameters<Named<HistoryArgs>>,
    ) -> CallToolResult {
        let run = async {
            let tenant = self.tenant(args.tenant.as_deref())?;
            let versions = self.backend.versions(&tenant, &args.claim_id).await?;
            tools::history_answer(versions, &args)
        };
        answer(run.await)
    }

    /// What changed since a cursor: the change feed, a page at a time.
    #[tool(
        description = "List what changed in memory, oldest first: claims remembered (new \
        versions), claims forgotten, and contradictions or supersessions detected between \
        claims. Pass the answer's `cursor` as `after` next time to get only newer changes; \
        `from_lsn: \"oldest\"` starts from the oldest change still held. `wait_ms` waits for \
        changes when there are none yet.",
        annotations(read_only_hint = true)
    )]
    async fn changes(
        &self,
        Parameters(Named(args)): Parameters<Named<ChangesArgs>>,
    ) -> CallToolResult {
        let run = async {
            let tenant = self.tenant(args.tenant.as_deref())?;
            let request = tools::changes_request(&args, &tenant)?;
            self.backend
                .changes(&request.query, request.max, request.wait)
                .await
        };
        answer(run.await)
    }

    /// Forgets a claim.
    #[tool(
        description = "Forget a claim: it is no longer recalled, and its text is no longer \
        shown in its history.",
        annotations(destructive_hint = true, idempotent_hint = false)
    )]
    async fn forget(
        &self,
        Parameters(Named(args)): Parameters<Named<ForgetArgs>>,
    ) -> CallToolResult {
        let run = async {
            let tenant = self.tenant(args.tenant.as_deref())?;
            self.backend.forget(&tenant, &args.claim_id).await
        };
        answer(run.await)
    }
}

impl Memory {
    async fn remember_claim(&self, args: RememberArgs) -> Result<Value, Failure> {
        let tenant = self.tenant(args.tenant.as_deref())?;
        let claim_id = args
            .claim_id
            .clone()
            .unwrap_or_else(|| tools::claim_id_for(&args.text));
        let item = tools::ingest_item(&args, &tenant, &claim_id)?;
        let receipt = self.backend.ingest(item).await?;
        // The claim's conflicts: detection runs in the background, so ask for the claim back
        // once it has caught up (bounded wait). A failure here does not undo the write.
        let lookup = json!({
            "tenant_id": tenant,
            "query": args.text,
            "top_k": 20,
            "wait_for_detection_ms": REMEMBER_DETECTION_WAIT_MS,
        });
        let mut answer = json!({"remembered": receipt});
        match self.backend.retrieve(lookup).await {
            Ok(found) => {
                let entry = tools::result_for(&found, &claim_id);
                answer["conflicts"] = entry
                    .and_then(|r| r.get("conflicts").cloned())
                    .unwrap_or_else(|| json!([]));
                answer["detection"] = found.get("detection").cloned().unwrap_or(Value::Null);
            }
            Err(failure) => {
                answer["conflicts_unknown"] = json!(failure.message);
            }
        }
        Ok(answer)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Memory {
    fn get_info(&self) -> ServerConfig {
        let scope = match &self.tenant {
            Some(t) => format!("Every call acts on the tenant `{t}`."),
            None => format!(
                "Each call may name its tenant (memory space); calls that name none use \
                 `{DEFAULT_TENANT}`."
            ),
        };
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("dash", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "DASH is an evidence-first memory. `remember` stores short factual claims with \
                 their sources; `recall` finds the claims that answer a question and shows the \
                 evidence for and against each and the claims that conflict with it — weigh \
                 those before answering. `history` shows how a claim changed; `changes` lists \
                 what changed since a cursor; `forget` removes one. {scope}"
            ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(tenant: Option<&str>) -> Memory {
        let remote = Remote::new(
            "http://127.0.0.1:9",
            Credentials::default(),
            Duration::from_secs(1),
        )
        .unwrap();
        Memory::new(Backend::Remote(remote), tenant.map(str::to_owned))
    }

    #[test]
    fn the_five_tools_have_object_schemas() {
        // Building the router checks every schema (a bad one panics here, not in a client).
        let tools = memory(None).tool_router.list_all();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["changes", "forget", "history", "recall", "remember"]
        );
        for tool in &tools {
            assert_eq!(tool.input_schema.get("type"), Some(&json!("object")));
        }
    }

    #[test]
    fn a_fixed_tenant_refuses_others() {
        let fixed = memory(Some("a"));
        assert_eq!(fixed.tenant(None).unwrap(), "a");
        assert_eq!(fixed.tenant(Some("a")).unwrap(), "a");
        assert_eq!(fixed.tenant(Some("b")).unwrap_err().code, "forbidden");
        let open = memory(None);
        assert_eq!(open.tenant(None).unwrap(), DEFAULT_TENANT);
        assert_eq!(open.tenant(Some("b")).unwrap(), "b");
    }

    #[test]
    fn remote_urls_are_checked() {
        let make = |url| Remote::new(url, Credentials::default(), Duration::from_secs(1));
        assert!(make("http://127.0.0.1:7700/").is_ok());
        assert!(make("https://example.com").is_err());
        assert!(make("http://").is_err());
        assert!(make("http://host/v1").is_err());
    }
}
