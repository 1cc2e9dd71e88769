//! `ferry store check|repair`: comes with the next commit.
