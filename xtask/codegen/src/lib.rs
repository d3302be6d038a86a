//! The code generator of `cargo xtask regen` (which runs this crate's
//! binary): the pipeline from a spec to a provider crate,
//! one file per stage: [`spec`] finds and reads the specs, [`describe`]
//! reads the `x-tokenmux-*` vocabulary, [`lower`] turns the documented
//! wire formats into what progenitor can express, [`generate`] runs
//! progenitor and renders `generated.rs`, [`format`](mod@format) runs
//! rustfmt over a run's files at once, [`scaffold`] makes a new provider's
//! crate, [`registry`] writes the registry and the facade's feature
//! blocks, and [`regen`] drives them (and `--check`).

pub mod describe;
mod error;
pub mod format;
pub mod generate;
pub mod lower;
pub mod regen;
pub mod registry;
pub mod scaffold;
pub mod spec;

pub(crate) use error::problem;
pub use error::{GenError, SpecProblem};
