/* The event encoders; the format itself is the table in asx_event.h, and
 * the numbers and text in it are written by asx_fmt.c.
 *
 * The encoders are that table expanded per type into straight-line code, so
 * a row costs what a hand-written one would: the per-type switch is the only
 * dispatch. InfluxDB tags go in key order, which the table does not keep,
 * so their order is sorted once, at first use, into tag_order.
 */
#include "asx_event.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

/* ---- quoting the session id ------------------------------------------------ */

static size_t csv_quote(char *out, const char *s, size_t len) {
  if (!memchr(s, ',', len) && !memchr(s, '"', len) && !memchr(s, '\n', len) &&
      !memchr(s, '\r', len)) {
    memcpy(out, s, len);
    return len;
  }
  size_t n = 0;
  out[n++] = '"';
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '"') out[n++] = '"';
    out[n++] = s[i];
  }
  out[n++] = '"';
  return n;
}

static size_t json_quote(char *out, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t n = 0;
  out[n++] = '"';
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = (char)c;
    } else if (c == '\n') {
      out[n++] = '\\';
      out[n++] = 'n';
    } else if (c < 0x20) {
      memcpy(out + n, "\\u00", 4);
      n += 4;
      out[n++] = hex[c >> 4];
      out[n++] = hex[c & 15];
    } else {
      out[n++] = (char)c;
    }
  }
  out[n++] = '"';
  return n;
}


/* ---- the schema as data ------------------------------------------------- */

#define SCHEMA_FIELD(type_, name, member, kind, tag) \
  {name, ASX_EVF_##kind == ASX_EVF_ANY ? NULL : #member, sizeof(tag) > 1 ? tag : NULL, type_, \
   ASX_EVF_##kind},
#define SCHEMA_TYPE(code, wire, fields) fields(SCHEMA_FIELD, code)

_Static_assert((int)ASX_EV_AGENT == (int)ASX_EVENT_BOOK_COUNT, "the Lua types' codes follow the book's");
#define COUNT_TYPE(code, wire, fields) +1
_Static_assert(ASX_EV_COUNT == 0 ASX_EVENT_TYPES(COUNT_TYPE), "ASX_EV_COUNT counts every type");

static const asx_event_field schema[] = {ASX_EVENT_TYPES(SCHEMA_TYPE)};

#define TYPE_NAME(code, wire, fields) [code] = wire,
static const char *const type_names[ASX_EV_COUNT] = {ASX_EVENT_TYPES(TYPE_NAME)};
#define ENUM_NAME(code, name) [code] = name,
static const char *const side_names[] = {ASX_EVENT_SIDES(ENUM_NAME)};
static const char *const reason_names[] = {ASX_EVENT_REASONS(ENUM_NAME)};
#define NREASONS (sizeof reason_names / sizeof reason_names[0])
static const char *const cancel_reason_names[] = {ASX_EVENT_CANCEL_REASONS(ENUM_NAME)};
#define NCANCEL_REASONS (sizeof cancel_reason_names / sizeof cancel_reason_names[0])

const asx_event_field *asx_event_schema(size_t *count) {
  if (count) *count = sizeof schema / sizeof schema[0];
  return schema;
}

const char *asx_event_type_name(int type) {
  return type >= 0 && type < ASX_EV_COUNT ? type_names[type] : NULL;
}

const char *asx_event_side_name(int side) {
  return side_names[side == ASX_BUY ? ASX_BUY : ASX_SELL];
}

const char *asx_event_reason_name(int reason) {
  return reason >= 0 && (size_t)reason < NREASONS ? reason_names[reason]
                                                  : reason_names[NREASONS - 1];
}

const char *asx_event_cancel_reason_name(int reason) {
  return reason > 0 && (size_t)reason < NCANCEL_REASONS ? cancel_reason_names[reason] : NULL;
}

/* ---- the formatting context --------------------------------------------- */

static void escape_tag(asx_event_fmt *f, const char *s, size_t len) {
  char *out = f->session;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == ',' || s[i] == '=' || s[i] == ' ') *out++ = '\\';
    if (s[i] == '\n') continue; /* a newline cannot appear in a tag at all */
    *out++ = s[i];
  }
  /* Nor can a backslash end one: InfluxDB takes the separator after it as
   * escaped, and refused the point. */
  while (out > f->session && out[-1] == '\\') out--;
  f->session_len = (size_t)(out - f->session);
}

void asx_event_fmt_init(asx_event_fmt *f, int format) {
  f->format = format;
  f->last_time = NAN;
  f->last_time_len = 0;
  asx_event_fmt_session(f, NULL, 0, 0);
}

/* Whether a number's text (asx_fmt_double's) is a JSON number: a digit
 * first, after any minus sign; not "nan", "inf" or "-inf". */
static int json_number_text(const char *s, size_t len) {
  size_t i = len > 0 && s[0] == '-';
  return i < len && s[i] >= '0' && s[i] <= '9';
}

int asx_event_fmt_session(asx_event_fmt *f, const char *session, size_t len, int is_string) {
  if (!session) {
    f->session_len = f->format == ASX_EVENT_JSON ? 4 : 0;
    memcpy(f->session, "null", 4);
    return 0;
  }
  if (len > ASX_EVENT_SESSION_MAX) return ASX_E_ARG;
  if (f->format == ASX_EVENT_LINE) {
    escape_tag(f, session, len);
  } else if (is_string) {
    char clean[ASX_EVENT_SESSION_MAX * 3];
    size_t n = asx_fmt_utf8(clean, session, len);
    f->session_len = f->format == ASX_EVENT_CSV ? csv_quote(f->session, clean, n)
                                                : json_quote(f->session, clean, n);
  } else if (f->format == ASX_EVENT_JSON && !json_number_text(session, len)) {
    /* A number JSON has no form for, NaN or an infinity ("nan", "inf",
     * "-inf" as asx_fmt_double writes them: an exchange's session_id that
     * code set so), is null, as the JSON encoder writes such a field; its
     * text made every line of the log invalid JSON. */
    memcpy(f->session, "null", 4);
    f->session_len = 4;
  } else {
    memcpy(f->session, session, len);
    f->session_len = len;
  }
  return 0;
}

size_t asx_event_max_len(const asx_event_fmt *f) {
  /* The fixed text, eight 20-digit integers, a time and the longest
   * session. A fixed bound: a log file hands its chunk to the writer when
   * this much room is left, so the bound decides where writes split. */
  return 320 + 8 * 21 + 32 + ASX_NAME_MAX + sizeof f->session;
}

/* ---- the encoders ------------------------------------------------------- */

static inline char *put(char *p, const char *s, size_t len) {
  memcpy(p, s, len);
  return p + len;
}
#define PUTS(p, lit) put((p), (lit), sizeof(lit) - 1)

static inline char *put_int(char *p, int64_t v) {
  return p + asx_fmt_int64(p, v);
}

static inline char *put_name(char *p, const char *s) {
  return put(p, s, strlen(s));
}

static char *put_time(asx_event_fmt *f, char *p, double t) {
  /* Compare bit patterns, so that a NaN time does not defeat the cache. */
  if (memcmp(&t, &f->last_time, sizeof t) != 0) {
    f->last_time = t;
    f->last_time_len = asx_fmt_double(f->last_time_text, t);
  }
  return put(p, f->last_time_text, (size_t)f->last_time_len);
}

/* A value of each kind as CSV writes it (an absent one is an empty field),
 * as JSON writes it with its key, and as a line protocol field: the first
 * after a space, the others after a comma, integers with the i suffix. */
static inline char *csv_INT(char *p, int64_t v) { return put_int(p, v); }
static inline char *csv_OPT(char *p, int64_t v) { return v ? put_int(p, v) : p; }
static inline char *csv_SIDE(char *p, int v) { return put_name(p, asx_event_side_name(v)); }
static inline char *csv_REASON(char *p, int v) { return put_name(p, asx_event_reason_name(v)); }
static inline char *csv_WHY(char *p, int v) {
  const char *s = asx_event_cancel_reason_name(v);
  return s ? put_name(p, s) : p;
}
/* A record made by hand may have no name: it is written empty. */
static inline char *csv_NAME(char *p, const char *s) { return s ? put_name(p, s) : p; }

static inline char *quoted(char *p, const char *s) {
  *p++ = '"';
  p = put_name(p, s);
  *p++ = '"';
  return p;
}

static inline char *json_INT(char *p, const char *key, size_t klen, int64_t v) {
  return put_int(put(p, key, klen), v);
}
static inline char *json_OPT(char *p, const char *key, size_t klen, int64_t v) {
  return v ? json_INT(p, key, klen, v) : p;
}
static inline char *json_SIDE(char *p, const char *key, size_t klen, int v) {
  return quoted(put(p, key, klen), asx_event_side_name(v));
}
static inline char *json_REASON(char *p, const char *key, size_t klen, int v) {
  return quoted(put(p, key, klen), asx_event_reason_name(v));
}
static inline char *json_WHY(char *p, const char *key, size_t klen, int v) {
  const char *s = asx_event_cancel_reason_name(v);
  return s ? quoted(put(p, key, klen), s) : p;
}
static inline char *json_NAME(char *p, const char *key, size_t klen, const char *s) {
  return quoted(put(p, key, klen), s ? s : "");
}

static inline char *line_key(char *p, int *first, const char *key, size_t klen) {
  *p++ = *first ? ' ' : ',';
  *first = 0;
  return put(p, key, klen);
}
static inline char *line_INT(char *p, int *first, const char *key, size_t klen, int64_t v) {
  p = put_int(line_key(p, first, key, klen), v);
  *p++ = 'i';
  return p;
}
static inline char *line_OPT(char *p, int *first, const char *key, size_t klen, int64_t v) {
  return v ? line_INT(p, first, key, klen, v) : p;
}
static inline char *line_SIDE(char *p, int *first, const char *key, size_t klen, int v) {
  return quoted(line_key(p, first, key, klen), asx_event_side_name(v));
}
static inline char *line_REASON(char *p, int *first, const char *key, size_t klen, int v) {
  return quoted(line_key(p, first, key, klen), asx_event_reason_name(v));
}
/* WHY and NAME are tags, never fields; these are for completeness of the
 * expansion. */
static inline char *line_WHY(char *p, int *first, const char *key, size_t klen, int v) {
  const char *s = asx_event_cancel_reason_name(v);
  return s ? quoted(line_key(p, first, key, klen), s) : p;
}
static inline char *line_NAME(char *p, int *first, const char *key, size_t klen, const char *s) {
  return quoted(line_key(p, first, key, klen), s ? s : "");
}

#define LIT(s) s, sizeof(s) - 1
/* Tags are not fields: the line protocol writes them first, in key order. */
#define IS_FIELD(tag) (sizeof(tag) == 1)

#define CSV_FIELD(type, name, member, kind, tag) \
  *p++ = ',';                              \
  p = csv_##kind(p, e->member);
#define JSON_FIELD(type, name, member, kind, tag) p = json_##kind(p, LIT(",\"" name "\":"), e->member);
#define LINE_FIELD(type, name, member, kind, tag) \
  if (IS_FIELD(tag)) p = line_##kind(p, &first, LIT(name "="), e->member);

#define CSV_CASE(code, wire, fields) \
  case code:                         \
    fields(CSV_FIELD, code) break;
#define JSON_CASE(code, wire, fields) \
  case code:                          \
    fields(JSON_FIELD, code) break;
#define LINE_CASE(code, wire, fields) \
  case code:                          \
    fields(LINE_FIELD, code) break;

/* The tags of each book type in key order, the session's place among them
 * marked by a NULL value kind. Sorted once from the table. */
typedef struct line_tag {
  const char *key;
  size_t off; /* of the member in asx_event */
  size_t size;
  int kind; /* ASX_EVF_*, or -1 for the session */
} line_tag;
#define MAX_TAGS 8
static line_tag tag_order[ASX_EVENT_BOOK_COUNT][MAX_TAGS];
static int tag_count[ASX_EVENT_BOOK_COUNT];
static pthread_once_t tag_once = PTHREAD_ONCE_INIT;

#define TAG_OF(type_, name, member, kind, tag_)                                          \
  if (!IS_FIELD(tag_)) {                                                                 \
    assert(tag_count[type_] < MAX_TAGS - 1); /* room for the session */                  \
    tag_order[type_][tag_count[type_]++] = (line_tag){                                   \
        tag_, offsetof(asx_event, member), sizeof(((asx_event *)0)->member), ASX_EVF_##kind}; \
  }
#define TAGS_CASE(code, wire, fields) fields(TAG_OF, code)

static void sort_tags(void) {
  ASX_EVENT_BOOK_TYPES(TAGS_CASE)
  for (int t = 0; t < ASX_EVENT_BOOK_COUNT; t++) {
    line_tag *v = tag_order[t];
    v[tag_count[t]++] = (line_tag){"session", 0, 0, -1};
    for (int i = 1; i < tag_count[t]; i++)
      for (int j = i; j > 0 && strcmp(v[j - 1].key, v[j].key) > 0; j--) {
        line_tag x = v[j];
        v[j] = v[j - 1];
        v[j - 1] = x;
      }
  }
}

static int64_t member_value(const asx_event *e, const line_tag *g) {
  const char *m = (const char *)e + g->off;
  if (g->kind == ASX_EVF_NAME) return 0; /* read by member_name */
  if (g->size == sizeof(int64_t)) return *(const int64_t *)(const void *)m;
  if (g->size == sizeof(uint32_t)) return *(const uint32_t *)(const void *)m;
  return *(const uint8_t *)m;
}

static char *line_tags(asx_event_fmt *f, char *p, const asx_event *e) {
  const line_tag *v = tag_order[e->type];
  for (int i = 0; i < tag_count[e->type]; i++) {
    const line_tag *g = &v[i];
    if (g->kind < 0) {
      if (!f->session_len) continue;
      p = PUTS(p, ",session=");
      p = put(p, f->session, f->session_len);
      continue;
    }
    int64_t x = member_value(e, g);
    const char *text = NULL;
    if (g->kind == ASX_EVF_NAME) {
      text = *(const char *const *)(const void *)((const char *)e + g->off);
      if (text == NULL) continue;
    } else if (g->kind == ASX_EVF_WHY) {
      /* A cancel its trader asked for has no reason tag. */
      if ((text = asx_event_cancel_reason_name((int)x)) == NULL) continue;
    } else if (g->kind == ASX_EVF_SIDE) {
      text = asx_event_side_name((int)x);
    } else if (g->kind == ASX_EVF_REASON) {
      text = asx_event_reason_name((int)x);
    }
    *p++ = ',';
    p = put_name(p, g->key);
    *p++ = '=';
    p = text ? put_name(p, text) : put_int(p, x);
  }
  return p;
}

char *asx_event_encode(asx_event_fmt *f, char *p, const asx_event *e) {
  if (f->format == ASX_EVENT_CSV) {
    p = put_time(f, p, e->time);
    *p++ = ',';
    p = put(p, f->session, f->session_len);
    switch (e->type) { ASX_EVENT_BOOK_TYPES(CSV_CASE) }
    *p++ = '\n';
  } else if (f->format == ASX_EVENT_JSON) {
    p = PUTS(p, "{\"type\":\"");
    p = put_name(p, type_names[e->type]);
    p = PUTS(p, "\",\"time\":");
    p = put_time(f, p, e->time);
    p = PUTS(p, ",\"session\":");
    p = put(p, f->session, f->session_len);
    switch (e->type) { ASX_EVENT_BOOK_TYPES(JSON_CASE) }
    p = PUTS(p, "}\n");
  } else {
    pthread_once(&tag_once, sort_tags);
    int first = 1;
    p = put_name(p, type_names[e->type]);
    p = line_tags(f, p, e);
    switch (e->type) { ASX_EVENT_BOOK_TYPES(LINE_CASE) }
  }
  return p;
}
