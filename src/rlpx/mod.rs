//! The RLPx transport (placeholder).
