//! Nothing here: the tests live in `it/`, one binary for all of them.
