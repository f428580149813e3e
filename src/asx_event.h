/* The events: every event type and its fields, written once, and the
 * encoders that turn the book's event records into text.
 *
 * ASX_EVENT_TYPES is the one table of the event format. It is expanded here
 * into the CSV rows, JSON lines and InfluxDB line protocol of the book's
 * records (asx_event, see asx_book.h), and exported as data through
 * asx_event_schema(), from which lua/asx/event.lua builds the Lua messages
 * loggers receive, the CSV headers, the order of JSON fields and the
 * InfluxDB tags. Adding a field to an event is one F line below (and, for a
 * type the book records, the asx_event member that carries it); adding a
 * type is one T line and its list of fields.
 *
 * T(code, wire name, fields): the type's ASX_EV_* code, its name in files
 * and in Lua messages, and the macro listing its fields in file order,
 * fields(F, code).
 * Trades are called "exchange" outside the C code: that is the name the
 * first loggers gave them, kept so that outputs stay comparable.
 *
 * F(type, name, member, kind, tag), one per field (type is the code):
 *   name    the field in CSV headers, JSON objects, InfluxDB points and Lua
 *           messages;
 *   member  the asx_event member it is read from (none for the types that
 *           Lua emits, which have no record);
 *   kind    INT an integer; OPT an integer, absent when 0 (an empty CSV
 *           field, left out of JSON, InfluxDB and the Lua message: a market
 *           order has no price); SIDE "buy" or "sell"; REASON why an order
 *           was trimmed, "money", "stocks" or "limit"; WHY why an order was
 *           cancelled, absent when its trader asked (like OPT); NAME a C
 *           string that needs no quoting (an instrument's name); ANY a Lua
 *           value;
 *   tag     "" for an InfluxDB field, else the tag key it is written under.
 *           Tags are the small sets of values (trader ids, sides); an
 *           agent's id is its trader tag, like the traders of a trade.
 *
 * Every event also has time (the session clock, in seconds) and session
 * (the session id) before its fields; every event of the book ends with its
 * instrument, so that files from before instruments gain one last column. In InfluxDB the measurement is the
 * type's name, tags are written in key order (session among them), and the
 * fields follow in file order. A message from Lua may carry fields beyond
 * its type's: JSON and InfluxDB add them after, sorted; CSV keeps its
 * columns.
 */
#ifndef ASX_EVENT_H
#define ASX_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "asx_book.h"
#include "asx_fmt.h"

#define ASX_EVENT_TRADE(F, t)                       \
  F(t, "price", price, INT, "")                     \
  F(t, "amount", amount, INT, "")                   \
  F(t, "buyer", trader, INT, "buyer")               \
  F(t, "seller", trader2, INT, "seller")            \
  F(t, "buy_order", order, INT, "")                 \
  F(t, "sell_order", order2, INT, "")               \
  F(t, "aggressor", side, SIDE, "aggressor")        \
  F(t, "instrument", instrument_name, NAME, "instrument")

#define ASX_EVENT_ORDER(F, t)                       \
  F(t, "id", order, INT, "")                        \
  F(t, "trader", trader, INT, "trader")             \
  F(t, "side", side, SIDE, "side")                  \
  F(t, "price", price, OPT, "")                     \
  F(t, "amount", amount, INT, "")                   \
  F(t, "instrument", instrument_name, NAME, "instrument")

#define ASX_EVENT_CANCEL(F, t)                      \
  F(t, "id", order, INT, "")                        \
  F(t, "trader", trader, INT, "trader")             \
  F(t, "side", side, SIDE, "side")                  \
  F(t, "remaining", amount, INT, "")                \
  F(t, "reason", reason, WHY, "reason")             \
  F(t, "instrument", instrument_name, NAME, "instrument")

/* price is the fill's, from and to the order's amount before and after. */
#define ASX_EVENT_TRIM(F, t)                        \
  F(t, "id", order, INT, "")                        \
  F(t, "trader", trader, INT, "trader")             \
  F(t, "side", side, SIDE, "side")                  \
  F(t, "price", price, INT, "")                     \
  F(t, "from", amount, INT, "")                     \
  F(t, "to", amount2, INT, "")                      \
  F(t, "reason", reason, REASON, "reason")          \
  F(t, "instrument", instrument_name, NAME, "instrument")

/* An order reduced in place: from and to its amount before and after. */
#define ASX_EVENT_AMEND(F, t)                       \
  F(t, "id", order, INT, "")                        \
  F(t, "trader", trader, INT, "trader")             \
  F(t, "side", side, SIDE, "side")                  \
  F(t, "price", price, INT, "")                     \
  F(t, "from", amount, INT, "")                     \
  F(t, "to", amount2, INT, "")                      \
  F(t, "instrument", instrument_name, NAME, "instrument")

#define ASX_EVENT_AGENT(F, t)                       \
  F(t, "id", none, ANY, "trader")                   \
  F(t, "name", none, ANY, "")                       \
  F(t, "strategy", none, ANY, "strategy")           \
  F(t, "state", none, ANY, "state")                 \
  F(t, "message", none, ANY, "")

#define ASX_EVENT_SESSION(F, t)                     \
  F(t, "state", none, ANY, "state")                 \
  F(t, "seed", none, ANY, "")                       \
  F(t, "clock", none, ANY, "")

/* The types the book records, then the types Lua emits (ex:emit). */
#define ASX_EVENT_BOOK_TYPES(T)                     \
  T(ASX_EV_TRADE, "exchange", ASX_EVENT_TRADE)      \
  T(ASX_EV_ORDER, "order", ASX_EVENT_ORDER)         \
  T(ASX_EV_CANCEL, "cancel", ASX_EVENT_CANCEL)      \
  T(ASX_EV_TRIM, "trim", ASX_EVENT_TRIM)            \
  T(ASX_EV_AMEND, "amend", ASX_EVENT_AMEND)
#define ASX_EVENT_LUA_TYPES(T)                      \
  T(ASX_EV_AGENT, "agent", ASX_EVENT_AGENT)         \
  T(ASX_EV_SESSION, "session", ASX_EVENT_SESSION)
#define ASX_EVENT_TYPES(T) ASX_EVENT_BOOK_TYPES(T) ASX_EVENT_LUA_TYPES(T)

#define ASX_EVENT_SIDES(X) X(ASX_BUY, "buy") X(ASX_SELL, "sell")
#define ASX_EVENT_REASONS(X)                        \
  X(ASX_TRIM_MONEY, "money") X(ASX_TRIM_STOCKS, "stocks") X(ASX_TRIM_LIMIT, "limit")
/* ASX_CANCEL_ASKED has no name: the field is absent. */
#define ASX_EVENT_CANCEL_REASONS(X)                 \
  X(ASX_CANCEL_IOC, "ioc") X(ASX_CANCEL_FOK, "fok")  \
  X(ASX_CANCEL_POST_ONLY, "post_only") X(ASX_CANCEL_REPLACE, "replace") \
  X(ASX_CANCEL_TOO_LATE, "too_late")

/* The codes of the types Lua emits follow the book's (asx_event.c checks
 * it); they are plain numbers here for the FFI. */
/* ASX_FFI_BEGIN */
enum {
  ASX_EV_AGENT = 5,   /* an agent started, finished, failed or was stopped: from Lua */
  ASX_EV_SESSION = 6, /* a session started or stopped: from Lua */
  ASX_EV_COUNT = 7,

  ASX_EVF_INT = 0,
  ASX_EVF_OPT = 1,
  ASX_EVF_SIDE = 2,
  ASX_EVF_REASON = 3,
  ASX_EVF_ANY = 4,
  ASX_EVF_WHY = 5,
  ASX_EVF_NAME = 6
};

/* One field of ASX_EVENT_TYPES, as data. The strings are static. */
typedef struct asx_event_field {
  const char *name;
  const char *member; /* NULL for ASX_EVF_ANY */
  const char *tag;    /* NULL for an InfluxDB field */
  int type;           /* ASX_EV_* */
  int kind;           /* ASX_EVF_* */
} asx_event_field;

/* Every field of every type, by type, each type's in file order. */
const asx_event_field *asx_event_schema(size_t *count);
/* A type's name ("exchange" for ASX_EV_TRADE), or NULL out of range. */
const char *asx_event_type_name(int type);
/* "buy" for ASX_BUY, "sell" otherwise; a trim reason's name ("limit"
 * beyond the known ones). */
const char *asx_event_side_name(int side);
const char *asx_event_reason_name(int reason);
/* A cancel reason's name (ASX_CANCEL_*), or NULL for ASX_CANCEL_ASKED and
 * beyond the known ones. */
const char *asx_event_cancel_reason_name(int reason);

/* ASX_FFI_END */

/* ---- encoders ----------------------------------------------------------- */

enum {
  ASX_EVENT_CSV = 0,  /* time,session,fields... */
  ASX_EVENT_JSON = 1, /* {"type":..,"time":..,"session":..,fields...} */
  ASX_EVENT_LINE = 2  /* InfluxDB: measurement,tags fields (no timestamp) */
};

/* The longest session id, in bytes, before cleaning and quoting. */
#define ASX_EVENT_SESSION_MAX 256

/* What an encoder needs to write one output's rows: the format, the session
 * id already quoted for it, and the text of the last time written (a batch
 * of events mostly shares one time, and formatting a double exactly is the
 * costly part of a row). The owner (a log file, an InfluxDB logger) keeps
 * one per output; it holds no pointers. */
typedef struct asx_event_fmt {
  int format;
  size_t session_len;
  /* Cleaned (each byte at most U+FFFD's three), then quoted (each byte at
   * most six, as \u00XX in JSON). */
  char session[ASX_EVENT_SESSION_MAX * 3 * 6 + 3];
  double last_time;
  int last_time_len;
  char last_time_text[32];
} asx_event_fmt;

/* Sets f up for format (ASX_EVENT_*), with no session. */
void asx_event_fmt_init(asx_event_fmt *f, int format);

/* The session id: NULL for none (an empty CSV field, null in JSON, no tag in
 * InfluxDB), a number's text (is_string 0) or a string of len bytes, any
 * bytes, at most ASX_EVENT_SESSION_MAX. In CSV and JSON a string is cleaned
 * (asx_fmt_utf8) and quoted; in InfluxDB it is escaped as a tag value, and
 * the empty string means no tag. 0, or ASX_E_ARG when too long (f
 * unchanged). */
int asx_event_fmt_session(asx_event_fmt *f, const char *session, size_t len, int is_string);

/* The most bytes one encoded event takes with f. */
size_t asx_event_max_len(const asx_event_fmt *f);

/* Writes event e at p in f's format, ending CSV rows and JSON lines with a
 * newline (a point has none: its caller adds the timestamp), and returns
 * the end. p must have asx_event_max_len(f) bytes; e->type must be one the
 * book records. */
char *asx_event_encode(asx_event_fmt *f, char *p, const asx_event *e);

#define ASX__EVENT_ONE(code, wire, fields) +1
/* How many types the book records: their codes are 0 to this - 1. */
enum { ASX_EVENT_BOOK_COUNT = 0 ASX_EVENT_BOOK_TYPES(ASX__EVENT_ONE) };

/* Whether the book records events of this type (the encoders take them). */
static inline int asx_event_is_book_type(int type) {
  return type >= 0 && type < ASX_EVENT_BOOK_COUNT;
}

#endif
