//! Unit tests of the Mistral adapter's translations.
