//! The subcommands, one module each.

pub mod detection;
pub mod embed;
pub mod filtered;
pub mod ir;
pub mod lexical;
pub mod load;
pub mod quality;
pub mod quantization;
pub mod restart;
pub mod retrieve;
pub mod scale;
pub mod scorecard;
pub mod store;
