//! Unit tests of the Gemini adapter's translations.
