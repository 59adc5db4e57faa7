//! The six conversions between A, B and Y.
