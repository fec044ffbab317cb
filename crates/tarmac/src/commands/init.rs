//! `tarmac init [DIR]`: a folder ready for `tarmac up`, with a `tarmac.toml`
//! and a copy of the warehouse project to change.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct InitArgs {
    /// The folder to set up (created if missing).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

pub fn run(args: InitArgs) -> Result<ExitCode> {
    let (config, project) = crate::project::init(&args.dir)?;
    println!("wrote {}", config.display());
    println!(
        "wrote {} ({} files: the warehouse models, yours to change)",
        project.display(),
        crate::project::files().len()
    );
    let cd = if args.dir == std::path::Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", args.dir.display())
    };
    println!("next: {cd}tarmac up      # ingest, build and test the warehouse");
    println!("      tarmac build | tarmac sql | tarmac docs serve");
    Ok(ExitCode::SUCCESS)
}
