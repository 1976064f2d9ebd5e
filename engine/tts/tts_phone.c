/*
 * tts_phone.c - the ARPAbet phone inventory and the IPA -> ARPAbet table.
 *
 * Ids are dense (see tts_front.h): vowels first, three ids each (stress 0, 1,
 * 2), then consonants. Names are built once into a static table so that
 * pl_tts_phone_name needs no allocation.
 */
#include <stdio.h>
#include <string.h>

#include "tts_front.h"

/* The 39 base phones in alphabetical order; base id = index. */
static const struct {
    const char *name;
    bool vowel;
} base_phones[PL_TTS_N_PHONES] = {
    {"AA", true}, {"AE", true}, {"AH", true}, {"AO", true}, {"AW", true}, {"AY", true},
    {"B", false}, {"CH", false}, {"D", false}, {"DH", false}, {"EH", true}, {"ER", true},
    {"EY", true}, {"F", false}, {"G", false}, {"HH", false}, {"IH", true}, {"IY", true},
    {"JH", false}, {"K", false}, {"L", false}, {"M", false}, {"N", false}, {"NG", false},
    {"OW", true}, {"OY", true}, {"P", false}, {"R", false}, {"S", false}, {"SH", false},
    {"T", false}, {"TH", false}, {"UH", true}, {"UW", true}, {"V", false}, {"W", false},
    {"Y", false}, {"Z", false}, {"ZH", false},
};

/* Names of the dense ids: "AA0".."UW2", "B".."ZH". */
static const char *const id_names[PL_TTS_N_PHONE_IDS] = {
    "AA0", "AA1", "AA2", "AE0", "AE1", "AE2", "AH0", "AH1", "AH2", "AO0", "AO1", "AO2",
    "AW0", "AW1", "AW2", "AY0", "AY1", "AY2", "EH0", "EH1", "EH2", "ER0", "ER1", "ER2",
    "EY0", "EY1", "EY2", "IH0", "IH1", "IH2", "IY0", "IY1", "IY2", "OW0", "OW1", "OW2",
    "OY0", "OY1", "OY2", "UH0", "UH1", "UH2", "UW0", "UW1", "UW2", "B",   "CH",  "D",
    "DH",  "F",   "G",   "HH",  "JH",  "K",   "L",   "M",   "N",   "NG",  "P",   "R",
    "S",   "SH",  "T",   "TH",  "V",   "W",   "Y",   "Z",   "ZH",
};

#define N_VOWEL_IDS 45

/* Dense id (stress 0 for vowels) of each base phone, in base order. */
static const uint8_t base_id[PL_TTS_N_PHONES] = {
    0,  3,  6,  9,  12, 15, 45, 46, 47, 48, 18, 21, 24, 49, 50, 51, 27, 30, 52, 53,
    54, 55, 56, 57, 33, 36, 58, 59, 60, 61, 62, 63, 39, 42, 64, 65, 66, 67, 68,
};

/* Base phone of the upper-case letters c0 c1 (c1 = 0 for one letter), -1 if none. */
static int base_of(char c0, char c1) {
#define P2(a, b, v) if (c0 == a && c1 == b) return v
    P2('A', 'A', 0); P2('A', 'E', 1); P2('A', 'H', 2); P2('A', 'O', 3); P2('A', 'W', 4);
    P2('A', 'Y', 5); P2('B', 0, 6);   P2('C', 'H', 7); P2('D', 0, 8);   P2('D', 'H', 9);
    P2('E', 'H', 10); P2('E', 'R', 11); P2('E', 'Y', 12); P2('F', 0, 13); P2('G', 0, 14);
    P2('H', 'H', 15); P2('I', 'H', 16); P2('I', 'Y', 17); P2('J', 'H', 18); P2('K', 0, 19);
    P2('L', 0, 20);  P2('M', 0, 21);  P2('N', 0, 22);  P2('N', 'G', 23); P2('O', 'W', 24);
    P2('O', 'Y', 25); P2('P', 0, 26); P2('R', 0, 27);  P2('S', 0, 28);  P2('S', 'H', 29);
    P2('T', 0, 30);  P2('T', 'H', 31); P2('U', 'H', 32); P2('U', 'W', 33); P2('V', 0, 34);
    P2('W', 0, 35);  P2('Y', 0, 36);  P2('Z', 0, 37);  P2('Z', 'H', 38);
#undef P2
    return -1;
}

static char upper(char c) { return (c >= 'a' && c <= 'z') ? (char)(c - 32) : c; }

bool pl_tts_phone_parse(const char *s, size_t n, uint8_t *id) {
    if (!s || n == 0 || n > 3)
        return false;
    int stress = -1;
    if (s[n - 1] >= '0' && s[n - 1] <= '9') {
        if (s[n - 1] > '2')
            return false;
        stress = s[n - 1] - '0';
        n--;
    }
    if (n == 0 || n > 2)
        return false;
    int b = base_of(upper(s[0]), n == 2 ? upper(s[1]) : 0);
    if (b < 0 || (!base_phones[b].vowel && stress >= 0))
        return false;
    *id = (uint8_t)(base_id[b] + (base_phones[b].vowel && stress > 0 ? stress : 0));
    return true;
}

const char *pl_tts_phone_name(uint8_t id) {
    return id < PL_TTS_N_PHONE_IDS ? id_names[id] : "?";
}

int pl_tts_phone_base(uint8_t id) {
    for (int b = 0; b < PL_TTS_N_PHONES; b++) {
        if (id >= base_id[b] && id < base_id[b] + (base_phones[b].vowel ? 3 : 1))
            return b;
    }
    return -1;
}

int pl_tts_phone_stress(uint8_t id) { return id < N_VOWEL_IDS ? id % 3 : -1; }

pl_status pl_tts_phones_parse(const char *s, size_t len, uint8_t *ids, size_t cap, size_t *n) {
    *n = 0;
    size_t i = 0, k = 0;
    while (i < len) {
        while (i < len && s[i] == ' ')
            i++;
        if (i >= len)
            break;
        size_t j = i;
        while (j < len && s[j] != ' ')
            j++;
        uint8_t id;
        if (!pl_tts_phone_parse(s + i, j - i, &id))
            return PL_ERR(PL_E_FORMAT, "unknown ARPAbet phone '%.*s'", (int)(j - i > 16 ? 16 : j - i),
                          s + i);
        if (k >= cap)
            return PL_ERR(PL_E_FORMAT, "more than %zu phones", cap);
        ids[k++] = id;
        i = j;
    }
    if (k == 0)
        return PL_ERR(PL_E_FORMAT, "no phones");
    *n = k;
    return PL_OK;
}

/*
 * IPA -> ARPAbet for General American. Longest match first (the two-symbol
 * diphthongs and affricates come before their parts). Stress of a vowel comes
 * from the last stress mark seen before it.
 */
static const struct {
    const char *ipa;
    const char *arpa; /* one or two phones */
} ipa_table[] = {
    /* diphthongs, r-coloured vowels, affricates (before single symbols) */
    {"a\xc9\xaa", "AY"},       /* aɪ */
    {"a\xca\x8a", "AW"},       /* aʊ */
    {"e\xc9\xaa", "EY"},       /* eɪ */
    {"o\xca\x8a", "OW"},       /* oʊ */
    {"\xc9\x94\xc9\xaa", "OY"}, /* ɔɪ */
    {"\xc9\x99r", "ER"},       /* ər */
    {"\xc9\x99\xc9\xb9", "ER"}, /* əɹ */
    {"\xc9\x9cr", "ER"},       /* ɜr */
    {"\xc9\x9c\xc9\xb9", "ER"}, /* ɜɹ */
    {"t\xca\x83", "CH"},       /* tʃ */
    {"d\xca\x92", "JH"},       /* dʒ */
    /* vowels */
    {"\xc9\x91", "AA"}, /* ɑ */
    {"\xc9\x92", "AA"}, /* ɒ */
    {"a", "AA"},
    {"\xc3\xa6", "AE"}, /* æ */
    {"\xca\x8c", "AH"}, /* ʌ */
    {"\xc9\x99", "AH"}, /* ə */
    {"\xc9\x90", "AH"}, /* ɐ */
    {"\xc9\x94", "AO"}, /* ɔ */
    {"\xc9\x9b", "EH"}, /* ɛ */
    {"\xc9\x9d", "ER"}, /* ɝ */
    {"\xc9\x9a", "ER"}, /* ɚ */
    {"\xc9\x9c", "ER"}, /* ɜ */
    {"e", "EY"},
    {"\xc9\xaa", "IH"}, /* ɪ */
    {"\xc9\xa8", "IH"}, /* ɨ */
    {"\xe1\xb5\xbb", "IH"}, /* ᵻ */
    {"i", "IY"},
    {"o", "OW"},
    {"\xca\x8a", "UH"}, /* ʊ */
    {"u", "UW"},
    /* consonants */
    {"b", "B"},
    {"\xca\xa7", "CH"}, /* ʧ */
    {"d", "D"},
    {"\xc3\xb0", "DH"}, /* ð */
    {"f", "F"},
    {"\xc9\xa1", "G"}, /* ɡ */
    {"g", "G"},
    {"h", "HH"},
    {"\xca\xa4", "JH"}, /* ʤ */
    {"k", "K"},
    {"l", "L"},
    {"\xc9\xab", "L"}, /* ɫ */
    {"m", "M"},
    {"n", "N"},
    {"\xc5\x8b", "NG"}, /* ŋ */
    {"p", "P"},
    {"\xc9\xb9", "R"}, /* ɹ */
    {"r", "R"},
    {"s", "S"},
    {"\xca\x83", "SH"}, /* ʃ */
    {"t", "T"},
    {"\xc9\xbe", "T"}, /* ɾ (flap) */
    {"\xca\x94", "T"}, /* ʔ (glottal stop) */
    {"\xce\xb8", "TH"}, /* θ */
    {"v", "V"},
    {"w", "W"},
    {"\xca\x8d", "W"}, /* ʍ */
    {"j", "Y"},
    {"z", "Z"},
    {"\xca\x92", "ZH"}, /* ʒ */
};

/* Symbols skipped: space, syllable dot, length marks, tie bars, syllabic mark. */
static size_t ipa_skip(const char *s, size_t len) {
    static const char *const skip[] = {" ", ".", "\xcb\x90", "\xcb\x91", "\xcd\xa1", "\xcc\x8d",
                                       "\xcc\xa9", "/", "[", "]"};
    for (size_t k = 0; k < sizeof skip / sizeof skip[0]; k++) {
        size_t n = strlen(skip[k]);
        if (n <= len && memcmp(s, skip[k], n) == 0)
            return n;
    }
    return 0;
}

pl_status pl_tts_ipa_to_arpabet(const char *ipa, size_t len, uint8_t *ids, size_t cap,
                                size_t *n) {
    *n = 0;
    size_t i = 0, k = 0;
    int stress = 0;
    char tied[8];
    while (i < len) {
        if (len - i >= 2 && memcmp(ipa + i, "\xcb\x88", 2) == 0) { /* ˈ */
            stress = 1;
            i += 2;
            continue;
        }
        if (len - i >= 2 && memcmp(ipa + i, "\xcb\x8c", 2) == 0) { /* ˌ */
            stress = 2;
            i += 2;
            continue;
        }
        size_t sk = ipa_skip(ipa + i, len - i);
        if (sk) {
            i += sk;
            continue;
        }
        /* t͡ʃ, d͡ʒ: match as if the tie bar were not there */
        const char *p = ipa + i;
        size_t plen = len - i, tie_extra = 0;
        if (plen >= 3 && memcmp(p + 1, "\xcd\xa1", 2) == 0) {
            size_t rest = plen - 3 < 4 ? plen - 3 : 4;
            tied[0] = p[0];
            memcpy(tied + 1, p + 3, rest);
            p = tied;
            plen = 1 + rest;
            tie_extra = 2;
        }
        size_t best = 0, best_len = 0;
        for (size_t t = 0; t < sizeof ipa_table / sizeof ipa_table[0]; t++) {
            size_t m = strlen(ipa_table[t].ipa);
            if (m <= plen && m > best_len && memcmp(p, ipa_table[t].ipa, m) == 0) {
                best = t;
                best_len = m;
            }
        }
        if (best_len == 0) {
            size_t m = 1;
            unsigned char c = (unsigned char)ipa[i];
            if (c >= 0xC0)
                m = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (m > len - i)
                m = len - i;
            return PL_ERR(PL_E_FORMAT, "ipa: cannot map '%.*s' at byte %zu", (int)m, ipa + i, i);
        }
        if (tie_extra && best_len > 1)
            best_len += tie_extra;
        const char *a = ipa_table[best].arpa;
        uint8_t id;
        bool ok = pl_tts_phone_parse(a, strlen(a), &id);
        PL_ASSERT(ok);
        if (pl_tts_phone_stress(id) >= 0) {
            id = (uint8_t)(id - pl_tts_phone_stress(id) + stress);
            stress = 0;
        }
        if (k >= cap)
            return PL_ERR(PL_E_FORMAT, "ipa: more than %zu phones", cap);
        ids[k++] = id;
        i += best_len;
    }
    if (k == 0)
        return PL_ERR(PL_E_FORMAT, "ipa: no phones");
    *n = k;
    return PL_OK;
}

/* ----------------------------------------------- helpers shared by engine/tts */

#include <stdarg.h>

#include "tts_impl.h"

pl_status pl__tts_err_prefix(pl_status st, const char *fmt, ...) {
    char prev[512], pre[512];
    snprintf(prev, sizeof prev, "%s", pl_last_error());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    return PL_ERR(st, "%s%s", pre, prev);
}

bool pl__tts_utf8_next(const char *str, size_t len, size_t *i, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)str;
    size_t k = *i;
    if (k >= len)
        return false;
    unsigned c = s[k];
    if (c < 0x80) {
        *cp = c;
        *i = k + 1;
        return true;
    }
    size_t n;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return false;
    }
    if (len - k < n)
        return false;
    for (size_t j = 1; j < n; j++) {
        if ((s[k + j] & 0xC0) != 0x80)
            return false;
        v = (v << 6) | (s[k + j] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return false;
    *cp = v;
    *i = k + n;
    return true;
}

size_t pl__tts_utf8_check(const char *s, size_t len) {
    size_t i = 0;
    uint32_t cp;
    while (i < len) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        if (!pl__tts_utf8_next(s, len, &i, &cp))
            return i;
    }
    return len;
}

/* Letter names: the pronunciations of "a", "b", ... as letters. */
static const char *const letter_names[26] = {
    "EY1",      "B IY1", "S IY1",  "D IY1",  "IY1",  "EH1 F",  "JH IY1", "EY1 CH", "AY1",
    "JH EY1",   "K EY1", "EH1 L",  "EH1 M",  "EH1 N", "OW1",  "P IY1",  "K Y UW1", "AA1 R",
    "EH1 S",    "T IY1", "Y UW1",  "V IY1",  "D AH1 B AH0 L Y UW0",   "EH1 K S", "W AY1",
    "Z IY1",
};

size_t pl__tts_letter_phones(char c, uint8_t *ids) {
    if (c >= 'A' && c <= 'Z')
        c = (char)(c + 32);
    if (c < 'a' || c > 'z')
        return 0;
    const char *s = letter_names[c - 'a'];
    size_t n = 0;
    pl_status st = pl_tts_phones_parse(s, strlen(s), ids, 8, &n);
    PL_ASSERT(st == PL_OK);
    return n;
}

bool pl__tts_is_spelled(const char *w, size_t n, const uint8_t *phones, size_t n_phones) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ids[8];
        size_t m = pl__tts_letter_phones(w[i], ids);
        if (!m || k + m > n_phones)
            return false;
        for (size_t j = 0; j < m; j++) {
            if (pl_tts_phone_base(ids[j]) != pl_tts_phone_base(phones[k + j]))
                return false;
        }
        k += m;
    }
    return k == n_phones;
}
