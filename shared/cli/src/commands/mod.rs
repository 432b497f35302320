//! One module per subcommand.

pub mod dag;
pub mod datasets;
pub mod diff;
pub mod export;
pub mod fetch;
pub mod gc;
pub mod history;
pub mod init;
pub mod lineage;
pub mod report_pages;
pub mod results;
pub mod run;
pub mod runs;
pub mod serve;
pub mod show;
pub mod status;
pub mod verify;
