//! A forward-only reader over JSON text for the stream fast paths: it recognises
//! objects, strings, numbers and literals, validates what it skips as strictly as
//! serde_json would, and builds nothing. A caller walks the fields it knows and gets
//! `None` at anything else, which then goes through the typed parse.

/// Deepest nesting skipped inside ignored fields.
const MAX_DEPTH: u32 = 32;

/// Fills `slot` the first time; a second value refuses the chunk, as serde refuses a
/// duplicate field.
pub(crate) fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.is_none().then(|| *slot = Some(value))
}

/// The bytes a string scan stops at: the closing quote, an escape, and the control
/// characters JSON refuses raw. A table lookup per byte, with no range tests.
const STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Where the first byte at or after `i` that a string scan stops at is, eight bytes
/// at a time: a word's quote, backslash and control bytes are found with the
/// has-zero-byte and has-byte-less-than tricks (the lowest flagged byte of each is
/// exact, and bytes ≥ 0x80 of UTF-8 text are never flagged), the tail a byte at a time.
fn find_stop(bytes: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while let Some(word) = bytes.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().ok()?);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        let hits = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (w.wrapping_sub(ONES * 0x20) & !w))
            & HIGHS;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while !STRING_STOP[usize::from(*bytes.get(i)?)] {
        i += 1;
    }
    Some(i)
}
/// A cursor over JSON text that only recognises what the fast path needs.
pub(crate) struct Reader<'a> {
    pub(crate) text: &'a str,
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Reader<'a> {
        Reader { text, pos: 0 }
    }

    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    pub(crate) fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.pos).copied()
    }

    pub(crate) fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    pub(crate) fn eat_word(&mut self, word: &str) -> Option<()> {
        self.ws();
        self.text[self.pos..]
            .starts_with(word)
            .then(|| self.pos += word.len())
    }

    pub(crate) fn end(&mut self) -> Option<()> {
        self.ws();
        (self.pos == self.text.len()).then_some(())
    }

    pub(crate) fn null(&mut self) -> Option<()> {
        self.eat_word("null")
    }

    /// `null` (`Some(None)`), or what `read` reads (`Some(Some(_))`).
    pub(crate) fn or_null<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        match self.null() {
            Some(()) => Some(None),
            None => read(self).map(Some),
        }
    }

    /// A string literal, quotes included, and whether it has escapes. Refuses what
    /// JSON refuses (raw control characters, unknown escapes), so the fast path takes no
    /// chunk the typed parse would reject. A plain scan: the strings of a chunk are a
    /// few bytes long, shorter than a SIMD search takes to set up.
    pub(crate) fn scan_string(&mut self) -> Option<(&'a str, bool)> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.pos;
        let bytes = self.bytes();
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            i = find_stop(bytes, i)?;
            match bytes[i] {
                b'"' => {
                    self.pos = i + 1;
                    return Some((self.text.get(start..self.pos)?, escaped));
                }
                b'\\' => {
                    escaped = true;
                    i += match bytes.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        b'u' if bytes.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => 6,
                        _ => return None,
                    };
                }
                _ => return None,
            }
        }
    }

    /// A JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    pub(crate) fn number(&mut self) -> Option<()> {
        let bytes = self.bytes();
        let digits = |from: usize| {
            bytes.get(from..).map_or(0, |rest| {
                rest.iter().take_while(|b| b.is_ascii_digit()).count()
            })
        };
        let mut i = self.pos;
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        match digits(i) {
            0 => return None,
            n if n > 1 && bytes[i] == b'0' => return None,
            n => i += n,
        }
        if bytes.get(i) == Some(&b'.') {
            let n = digits(i + 1);
            if n == 0 {
                return None;
            }
            i += 1 + n;
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let n = digits(i);
            if n == 0 {
                return None;
            }
            i += n;
        }
        self.pos = i;
        Some(())
    }

    /// A string literal, quotes included.
    pub(crate) fn string(&mut self) -> Option<&'a str> {
        self.scan_string().map(|(literal, _)| literal)
    }

    /// A string's inside, when it has no escapes.
    pub(crate) fn plain_string(&mut self) -> Option<&'a str> {
        match self.scan_string()? {
            (literal, false) => Some(&literal[1..literal.len() - 1]),
            (_, true) => None,
        }
    }

    /// `{ "key": value, … }`, calling `field` at each value.
    pub(crate) fn object(
        &mut self,
        mut field: impl FnMut(&mut Reader<'a>, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.plain_string()?;
            self.eat(b':')?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `[]`, consumed; anything else is left where it is.
    pub(crate) fn empty_array(&mut self) -> bool {
        let start = self.pos;
        if self.eat(b'[').is_some() && self.eat(b']').is_some() {
            return true;
        }
        self.pos = start;
        false
    }

    /// A JSON integer that fits a `u64` (a fraction or exponent is a float to serde).
    pub(crate) fn unsigned(&mut self) -> Option<u64> {
        self.ws();
        let bytes = self.bytes();
        let digits = bytes[self.pos..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = self.text.get(self.pos..self.pos + digits)?;
        if digits == 0 || (digits > 1 && text.starts_with('0')) {
            return None;
        }
        if matches!(bytes.get(self.pos + digits), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let value = text.parse().ok()?;
        self.pos += digits;
        Some(value)
    }

    /// Any JSON value, not kept.
    pub(crate) fn skip_value(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|r, _| r.skip_value(depth + 1)),
            b'[' => {
                self.pos += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.eat_word("true"),
            b'f' => self.eat_word("false"),
            b'n' => self.null(),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_scan_stops_where_the_byte_scan_does() {
        let byte_scan = |bytes: &[u8], from: usize| {
            (from..bytes.len()).find(|&i| STRING_STOP[usize::from(bytes[i])])
        };
        let stops = ['"', '\\', '\u{0}', '\u{1f}', '\n'];
        let fillers = ['a', ' ', '\u{7f}', 'é', '你', '\u{20}', '!', '#', '[', ']'];
        for len in 0..40 {
            for stop in stops {
                for at in (0..len).step_by(3) {
                    let text: String = (0..len)
                        .map(|i| {
                            if i == at {
                                stop
                            } else {
                                fillers[i % fillers.len()]
                            }
                        })
                        .collect();
                    for from in 0..text.len().min(12) {
                        let bytes = text.as_bytes();
                        assert_eq!(
                            find_stop(bytes, from),
                            byte_scan(bytes, from),
                            "{text:?} from {from}"
                        );
                    }
                }
            }
            let plain: String = (0..len).map(|i| fillers[i % fillers.len()]).collect();
            assert_eq!(find_stop(plain.as_bytes(), 0), None);
        }
    }
}
