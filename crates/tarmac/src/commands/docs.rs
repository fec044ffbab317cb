//! `tarmac docs generate|serve`: the documentation catalog, handed to the
//! `catalog` crate.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::dbt::DbtArgs;
use crate::config::Config;

/// `tarmac docs serve` options.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// The project directory (its target/ is served; default: `[warehouse]
    /// project` of tarmac.toml, else the current folder, else ./warehouse).
    #[arg(long, value_name = "DIR")]
    project_dir: Option<PathBuf>,
    /// Serve this directory instead of the project's target/.
    #[arg(long, value_name = "DIR")]
    target_path: Option<PathBuf>,
    /// Port (0: any free port).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on. Anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Token required by every request (header `Authorization: Bearer T`,
    /// or `?token=T` once, which sets a cookie). Prefer TARMAC_UI_TOKEN.
    #[arg(long, env = "TARMAC_UI_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// `tarmac docs generate`. Exit codes as dbt's: 0, 1 when a node did not
/// compile (the catalog is still written), 2 when the project cannot load.
pub fn generate(args: DbtArgs, config: Result<Config>) -> Result<ExitCode> {
    match catalog::generate(&args.options(config)?) {
        Ok(g) => {
            for (id, msg) in &g.compile_errors {
                eprintln!("error: {id} did not compile: {msg}");
            }
            for (id, msg) in &g.lineage_errors {
                eprintln!("note: no column lineage for {id}: {msg}");
            }
            if !g.not_built.is_empty() {
                eprintln!(
                    "note: {} node(s) are not in the warehouse yet (run `tarmac build`): {}",
                    g.not_built.len(),
                    g.not_built.join(", ")
                );
            }
            println!(
                "Catalog written to {} ({} nodes, {} sources) in {:.2}s",
                g.target.join("catalog.json").display(),
                g.catalog_nodes,
                g.catalog_sources,
                g.elapsed
            );
            println!(
                "Site written to {} (or run `tarmac docs serve`)",
                g.target.join("index.html").display()
            );
            Ok(if g.compile_errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(catalog::Error::Engine(e)) => {
            eprintln!("error: {e}");
            Ok(super::dbt::engine_exit(&e))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// The target directory: `--target-path`, else the project's `target-path`
/// from dbt_project.yml (default `target`).
fn target_dir(args: &ServeArgs) -> PathBuf {
    if let Some(t) = &args.target_path {
        return t.clone();
    }
    let dir = args
        .project_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let configured = engine::yaml::read(&dir.join("dbt_project.yml"))
        .ok()
        .and_then(|v| {
            v.get("target-path")
                .and_then(|t| t.as_str())
                .map(String::from)
        });
    dir.join(configured.unwrap_or_else(|| "target".into()))
}

/// `tarmac docs serve`: the first line of stdout is `serving on URL`.
/// Without `--project-dir` it serves the configured project, and generates
/// its catalog first when there is none yet (as after `tarmac up`).
pub async fn serve(mut args: ServeArgs, config: Result<Config>) -> Result<ExitCode> {
    let addr = std::net::SocketAddr::new(args.host, args.port);
    web::check_bind(addr, args.token.as_deref(), "--host").map_err(anyhow::Error::msg)?;
    if args.project_dir.is_none() && args.target_path.is_none() {
        args.project_dir = config?.default_project();
        let target = target_dir(&args);
        if !target.join("catalog.json").is_file() {
            eprintln!("no catalog in {} yet: generating it", target.display());
            let options = engine::Options {
                project_dir: args.project_dir.clone(),
                ..engine::Options::default()
            };
            let g = tokio::task::block_in_place(|| catalog::generate(&options))?;
            for (id, msg) in &g.compile_errors {
                eprintln!("error: {id} did not compile: {msg}");
            }
        }
    }
    let target = target_dir(&args);
    let (listener, _url) = crate::listen::bind_and_announce(addr, "serving").await?;
    if !target.join("manifest.json").is_file() {
        eprintln!(
            "warning: no manifest.json in {}: the page will say so until `tarmac docs generate` runs",
            target.display()
        );
    }
    catalog::server::serve(listener, &target, args.token.clone()).await?;
    Ok(ExitCode::SUCCESS)
}
