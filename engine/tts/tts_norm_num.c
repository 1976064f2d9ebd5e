/*
 * tts_norm_num.c - English number words and the tables the normalizer reads:
 * cardinals, ordinals, years, digit strings, months, units, currencies.
 */
#include <string.h>

#include "strbuf.h"
#include "tts_impl.h"

static const char *const ones[20] = {
    "zero",    "one",     "two",       "three",    "four",     "five",    "six",
    "seven",   "eight",   "nine",      "ten",      "eleven",   "twelve",  "thirteen",
    "fourteen", "fifteen", "sixteen",  "seventeen", "eighteen", "nineteen",
};
static const char *const tens[10] = {"",      "",      "twenty",  "thirty", "forty",
                                     "fifty", "sixty", "seventy", "eighty", "ninety"};

void pl__tts_add(struct pl_strbuf *sb, const char *word) {
    if (sb->len)
        pl_strbuf_append_char(sb, ' ');
    pl_strbuf_append(sb, word);
}

/* 0 < v < 1000 */
static void say_hundreds(struct pl_strbuf *sb, unsigned v) {
    if (v >= 100) {
        pl__tts_add(sb, ones[v / 100]);
        pl__tts_add(sb, "hundred");
        v %= 100;
    }
    if (v >= 20) {
        pl__tts_add(sb, tens[v / 10]);
        if (v % 10)
            pl__tts_add(sb, ones[v % 10]);
    } else if (v > 0) {
        pl__tts_add(sb, ones[v]);
    }
}

void pl__tts_say_cardinal(struct pl_strbuf *sb, uint64_t v) {
    static const char *const scale[] = {"", "thousand", "million", "billion", "trillion"};
    if (v == 0) {
        pl__tts_add(sb, "zero");
        return;
    }
    unsigned groups[5] = {0};
    int ng = 0;
    while (v && ng < 5) {
        groups[ng++] = (unsigned)(v % 1000);
        v /= 1000;
    }
    for (int g = ng - 1; g >= 0; g--) {
        if (!groups[g])
            continue;
        say_hundreds(sb, groups[g]);
        if (g)
            pl__tts_add(sb, scale[g]);
    }
}

/* Replace the last word of sb with its ordinal form. */
static void ordinalize_last(struct pl_strbuf *sb) {
    static const struct {
        const char *card, *ord;
    } irregular[] = {{"one", "first"},   {"two", "second"}, {"three", "third"},
                     {"five", "fifth"},  {"eight", "eighth"}, {"nine", "ninth"},
                     {"twelve", "twelfth"}};
    if (pl_strbuf_status(sb) != PL_OK || !sb->len)
        return;
    size_t start = sb->len;
    while (start > 0 && sb->data[start - 1] != ' ')
        start--;
    const char *w = sb->data + start;
    for (size_t i = 0; i < sizeof irregular / sizeof irregular[0]; i++) {
        if (strcmp(w, irregular[i].card) == 0) {
            sb->len = start;
            sb->data[start] = '\0';
            pl_strbuf_append(sb, irregular[i].ord);
            return;
        }
    }
    size_t n = sb->len - start;
    if (n && w[n - 1] == 'y') { /* twenty -> twentieth */
        sb->len--;
        sb->data[sb->len] = '\0';
        pl_strbuf_append(sb, "ieth");
        return;
    }
    pl_strbuf_append(sb, "th");
}

void pl__tts_say_ordinal(struct pl_strbuf *sb, uint64_t v) {
    pl__tts_say_cardinal(sb, v);
    ordinalize_last(sb);
}

/* 1984 -> nineteen eighty four, 1905 -> nineteen oh five, 1900 -> nineteen
 * hundred, 2000 -> two thousand, 2005 -> two thousand five, 2010 -> twenty
 * ten; years below 1000 and round thousands are read as cardinals. */
void pl__tts_say_year(struct pl_strbuf *sb, int y) {
    if (y < 1000 || y > 9999 || y % 1000 == 0 || (y % 1000 < 10 && y / 1000 == 2)) {
        pl__tts_say_cardinal(sb, (uint64_t)y);
        return;
    }
    int hi = y / 100, lo = y % 100;
    say_hundreds(sb, (unsigned)hi);
    if (lo == 0) {
        pl__tts_add(sb, "hundred");
    } else if (lo < 10) {
        pl__tts_add(sb, "oh");
        pl__tts_add(sb, ones[lo]);
    } else {
        say_hundreds(sb, (unsigned)lo);
    }
}

void pl__tts_say_digits(struct pl_strbuf *sb, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            pl__tts_add(sb, ones[s[i] - '0']);
    }
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool pl__tts_parse_num(const char *s, size_t n, struct pl__tts_num *num) {
    memset(num, 0, sizeof *num);
    size_t i = 0;
    if (i < n && (s[i] == '-' || s[i] == '+' || (n - i >= 3 && memcmp(s + i, "\xe2\x88\x92", 3) == 0))) {
        num->neg = s[i] != '+';
        i += (unsigned char)s[i] == 0xe2 ? 3 : 1;
    }
    size_t is = i;
    size_t nd = 0, group = 0;
    bool commas = false;
    while (i < n && (is_digit(s[i]) || s[i] == ',')) {
        if (s[i] == ',') {
            /* a comma needs 1..3 digits before it (first group) or exactly 3 */
            if (group == 0 || (commas && group != 3) || (!commas && group > 3))
                return false;
            commas = true;
            group = 0;
        } else {
            group++;
            nd++;
        }
        i++;
    }
    if (commas && group != 3)
        return false;
    num->int_s = s + is;
    num->int_n = i - is;
    if (i < n && s[i] == '.') {
        size_t fs = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == fs)
            return false;
        num->has_frac = true;
        num->frac_s = s + fs;
        num->frac_n = i - fs;
    }
    if (i != n || (nd == 0 && !num->has_frac))
        return false;
    num->leading_zero = nd > 1 && num->int_s[0] == '0' && !commas;
    num->too_big = nd > 15;
    for (size_t k = 0; k < num->int_n && !num->too_big; k++) {
        if (is_digit(num->int_s[k]))
            num->ip = num->ip * 10 + (uint64_t)(num->int_s[k] - '0');
    }
    return true;
}

void pl__tts_say_num(struct pl_strbuf *sb, const struct pl__tts_num *num) {
    if (num->neg)
        pl__tts_add(sb, "minus");
    if (num->int_n) {
        if (num->too_big || num->leading_zero)
            pl__tts_say_digits(sb, num->int_s, num->int_n);
        else
            pl__tts_say_cardinal(sb, num->ip);
    }
    if (num->has_frac) {
        pl__tts_add(sb, "point");
        pl__tts_say_digits(sb, num->frac_s, num->frac_n);
    }
}

const char *const pl__tts_month_names[13] = {
    "",     "january", "february",  "march",   "april",    "may",      "june",
    "july", "august",  "september", "october", "november", "december",
};

int pl__tts_month(const char *w, size_t n) {
    if (n && w[n - 1] == '.')
        n--;
    if (n < 3 || n > 9)
        return 0;
    char low[10];
    for (size_t i = 0; i < n; i++)
        low[i] = (w[i] >= 'A' && w[i] <= 'Z') ? (char)(w[i] + 32) : w[i];
    for (int m = 1; m <= 12; m++) {
        const char *nm = pl__tts_month_names[m];
        size_t ln = strlen(nm);
        if (n == ln && memcmp(low, nm, n) == 0)
            return m;
        /* three-letter abbreviations, and "sept" */
        if ((n == 3 || (m == 9 && n == 4)) && memcmp(low, nm, n) == 0)
            return m;
    }
    return 0;
}

static const struct {
    const char *sym, *one, *many;
} units[] = {
    {"km", "kilometer", "kilometers"},
    {"m", "meter", "meters"},
    {"cm", "centimeter", "centimeters"},
    {"mm", "millimeter", "millimeters"},
    {"mi", "mile", "miles"},
    {"ft", "foot", "feet"},
    {"yd", "yard", "yards"},
    {"kg", "kilogram", "kilograms"},
    {"g", "gram", "grams"},
    {"mg", "milligram", "milligrams"},
    {"lb", "pound", "pounds"},
    {"lbs", "pound", "pounds"},
    {"oz", "ounce", "ounces"},
    {"l", "liter", "liters"},
    {"L", "liter", "liters"},
    {"ml", "milliliter", "milliliters"},
    {"mL", "milliliter", "milliliters"},
    {"mph", "mile per hour", "miles per hour"},
    {"km/h", "kilometer per hour", "kilometers per hour"},
    {"kph", "kilometer per hour", "kilometers per hour"},
    {"kmh", "kilometer per hour", "kilometers per hour"},
    {"m/s", "meter per second", "meters per second"},
    {"\xc2\xb0" "C", "degree celsius", "degrees celsius"},
    {"\xc2\xb0" "F", "degree fahrenheit", "degrees fahrenheit"},
    {"\xc2\xb0", "degree", "degrees"},
    {"\xe2\x84\x83", "degree celsius", "degrees celsius"},
    {"K", "kelvin", "kelvin"},
    {"B", "byte", "bytes"},
    {"KB", "kilobyte", "kilobytes"},
    {"kB", "kilobyte", "kilobytes"},
    {"MB", "megabyte", "megabytes"},
    {"GB", "gigabyte", "gigabytes"},
    {"TB", "terabyte", "terabytes"},
    {"Mb", "megabit", "megabits"},
    {"Gb", "gigabit", "gigabits"},
    {"Mbps", "megabit per second", "megabits per second"},
    {"Gbps", "gigabit per second", "gigabits per second"},
    {"Hz", "hertz", "hertz"},
    {"kHz", "kilohertz", "kilohertz"},
    {"MHz", "megahertz", "megahertz"},
    {"GHz", "gigahertz", "gigahertz"},
    {"ms", "millisecond", "milliseconds"},
    {"sec", "second", "seconds"},
    {"min", "minute", "minutes"},
    {"hr", "hour", "hours"},
    {"hrs", "hour", "hours"},
    {"W", "watt", "watts"},
    {"kW", "kilowatt", "kilowatts"},
    {"kWh", "kilowatt hour", "kilowatt hours"},
    {"V", "volt", "volts"},
    {"mA", "milliamp", "milliamps"},
    {"mAh", "milliamp hour", "milliamp hours"},
};

bool pl__tts_unit(const char *w, size_t n, const char **one, const char **many) {
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strlen(units[i].sym) == n && memcmp(units[i].sym, w, n) == 0) {
            *one = units[i].one;
            *many = units[i].many;
            return true;
        }
    }
    return false;
}

static const struct {
    const char *sym, *major1, *major, *minor1, *minor;
} currencies[] = {
    {"US$", "dollar", "dollars", "cent", "cents"},
    {"$", "dollar", "dollars", "cent", "cents"},
    {"\xc2\xa3", "pound", "pounds", "penny", "pence"},      /* £ */
    {"\xe2\x82\xac", "euro", "euros", "cent", "cents"},     /* € */
    {"\xc2\xa5", "yen", "yen", "sen", "sen"},               /* ¥ */
    {"\xe2\x82\xb9", "rupee", "rupees", "paisa", "paise"},  /* ₹ */
};

size_t pl__tts_currency(const char *s, size_t n, const char **major1, const char **major,
                        const char **minor1, const char **minor) {
    for (size_t i = 0; i < sizeof currencies / sizeof currencies[0]; i++) {
        size_t m = strlen(currencies[i].sym);
        if (m <= n && memcmp(currencies[i].sym, s, m) == 0) {
            *major1 = currencies[i].major1;
            *major = currencies[i].major;
            *minor1 = currencies[i].minor1;
            *minor = currencies[i].minor;
            return m;
        }
    }
    return 0;
}

const char *pl__tts_scale(const char *w, size_t n) {
    static const char *const scales[] = {"thousand", "million", "billion", "trillion"};
    for (size_t i = 0; i < 4; i++) {
        if (strlen(scales[i]) == n && strncmp(scales[i], w, n) == 0)
            return scales[i];
    }
    if (n == 2 && memcmp(w, "bn", 2) == 0)
        return "billion";
    return NULL;
}
