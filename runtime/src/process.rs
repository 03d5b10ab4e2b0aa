//! Process spawning helpers.
