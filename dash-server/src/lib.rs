//! `dash-server`: the HTTP service over [`dash_core`].
//!
//! A thin shell: routing, authentication and tenant authorization, signed writes, rate limits
//! and bounded admission, the audit log, metrics and lifecycle. No storage or ranking logic
//! lives here; every store call runs on a worker thread off the async runtime.
//!
//! The routes, JSON shapes, status codes and error codes are specified in `docs/http-api.md`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use dash_server::{Server, ServeConfig};
//!
//! let config = ServeConfig::for_data_dir("/var/lib/dash", "127.0.0.1:7700")?;
//! let server = Server::bind(config).await?;
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

pub mod answers;
pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod connections;
pub mod error;
pub mod events;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod server;
pub mod signing;
pub mod wire;

pub use config::{ConfigError, ServeArgs, ServeConfig};
pub use server::{ServeError, Server};
