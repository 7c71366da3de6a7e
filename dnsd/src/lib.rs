//! dnsd library.
