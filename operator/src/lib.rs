//! Bindy operator library.
