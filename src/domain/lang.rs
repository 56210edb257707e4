//! The language user-facing messages are written in: Simplified Chinese (the page
//! default) or English (selectable on pages; always English for the management API).
//! Domain refusals are phrased in the caller's language, so it lives here, below `web/`.

/// A message language (pages read it from the `tollgate_lang` cookie).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Simplified Chinese (default).
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// Reads the cookie value; anything unknown is Chinese.
    pub fn from_code(code: &str) -> Lang {
        match code {
            "en" => Lang::En,
            _ => Lang::Zh,
        }
    }

    /// `zh-CN` / `en` for the `lang` attribute.
    pub fn html_code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// Picks the label for this language.
    pub fn pick<T>(self, zh: T, en: T) -> T {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}
