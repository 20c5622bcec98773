//! `dash`: the HTTP server over `dash-core`.
//!
//! Not built yet: the HTTP service is its own issue. Until then this binary says so and exits
//! with a non-zero status rather than pretending to serve.

fn main() -> std::process::ExitCode {
    eprintln!(
        "dash-server {}: the HTTP service is not implemented yet; embed dash-core directly \
         (see README.md)",
        env!("CARGO_PKG_VERSION")
    );
    std::process::ExitCode::from(2)
}
