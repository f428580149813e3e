/* Unit tests of the event schema and its encoders, with no file or network:
 * each format's exact text for each type the book records, the session in
 * each format, and the schema as Lua reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "asx_event.h"
#include "test_util.h"

/* The text of one event in one format, in a static buffer. */
static const char *encode(asx_event_fmt *f, const asx_event *e) {
  static char buf[8192];
  assert_true(asx_event_max_len(f) <= sizeof buf);
  char *end = asx_event_encode(f, buf, e);
  *end = '\0';
  return buf;
}

static const asx_event trade_ = {.type = ASX_EV_TRADE, .time = 1.5, .price = 10, .amount = 3,
                                 .order = 2, .order2 = 1, .trader = 7, .trader2 = 8,
                                 .side = ASX_SELL, .instrument_name = "STOCK"};

static void test_every_format(void **state) {
  asx_event_fmt f;
  asx_event market = ev(ASX_EV_ORDER, 0.25, 0, 5, 0, 4, 0, 9, 0, ASX_BUY, 0);
  asx_event cancel = ev(ASX_EV_CANCEL, 2, 0, 1, 0, 4, 0, 9, 0, ASX_SELL, 0);
  asx_event trim = ev(ASX_EV_TRIM, 3, 12, 5, 2, 6, 0, 1, 0, ASX_SELL, ASX_TRIM_STOCKS);

  asx_event_fmt_init(&f, ASX_EVENT_CSV);
  assert_string_equal(encode(&f, &trade_), "1.5,,10,3,7,8,2,1,sell,STOCK\n");
  assert_string_equal(encode(&f, &market), "0.25,,4,9,buy,,5,STOCK\n");
  assert_string_equal(encode(&f, &cancel), "2,,4,9,sell,1,,STOCK\n");
  assert_string_equal(encode(&f, &trim), "3,,6,1,sell,12,5,2,stocks,STOCK\n");

  asx_event_fmt_init(&f, ASX_EVENT_JSON);
  assert_string_equal(encode(&f, &trade_),
                      "{\"type\":\"exchange\",\"time\":1.5,\"session\":null,\"price\":10,"
                      "\"amount\":3,\"buyer\":7,\"seller\":8,\"buy_order\":2,\"sell_order\":1,"
                      "\"aggressor\":\"sell\",\"instrument\":\"STOCK\"}\n");
  assert_string_equal(encode(&f, &market),
                      "{\"type\":\"order\",\"time\":0.25,\"session\":null,\"id\":4,\"trader\":9,"
                      "\"side\":\"buy\",\"amount\":5,\"instrument\":\"STOCK\"}\n");

  asx_event_fmt_init(&f, ASX_EVENT_LINE);
  assert_string_equal(encode(&f, &trade_),
                      "exchange,aggressor=sell,buyer=7,instrument=STOCK,seller=8 price=10i,amount=3i,"
                      "buy_order=2i,sell_order=1i");
  assert_string_equal(encode(&f, &market), "order,instrument=STOCK,side=buy,trader=9 id=4i,amount=5i");
  assert_string_equal(encode(&f, &trim),
                      "trim,instrument=STOCK,reason=stocks,side=sell,trader=1 id=6i,price=12i,from=5i,to=2i");
}

/* The session is quoted as each format needs: CSV quotes a comma, JSON
 * escapes a quote, InfluxDB escapes a tag's comma and space and puts the
 * session tag in key order. */
static void test_session_per_format(void **state) {
  asx_event_fmt f;
  const char *s = "a, \"b\"";
  asx_event_fmt_init(&f, ASX_EVENT_CSV);
  assert_int_equal(asx_event_fmt_session(&f, s, strlen(s), 1), 0);
  assert_string_equal(encode(&f, &trade_), "1.5,\"a, \"\"b\"\"\",10,3,7,8,2,1,sell,STOCK\n");
  asx_event_fmt_init(&f, ASX_EVENT_JSON);
  asx_event_fmt_session(&f, "42", 2, 0);
  assert_non_null(strstr(encode(&f, &trade_), "\"session\":42,"));
  asx_event_fmt_init(&f, ASX_EVENT_LINE);
  asx_event_fmt_session(&f, s, strlen(s), 1);
  assert_string_equal(encode(&f, &trade_),
                      "exchange,aggressor=sell,buyer=7,instrument=STOCK,seller=8,session=a\\,\\ \"b\" price=10i,"
                      "amount=3i,buy_order=2i,sell_order=1i");
  char big[ASX_EVENT_SESSION_MAX + 1];
  memset(big, 'x', sizeof big);
  assert_int_equal(asx_event_fmt_session(&f, big, sizeof big, 1), -1);
}

/* What lua/asx/event.lua reads: names, members and tags. */
static void test_schema(void **state) {
  size_t n;
  const asx_event_field *fs = asx_event_schema(&n);
  assert_int_equal(n, 8 + 6 + 6 + 8 + 7 + 5 + 3);
  assert_string_equal(asx_event_type_name(ASX_EV_TRADE), "exchange");
  assert_string_equal(asx_event_type_name(ASX_EV_SESSION), "session");
  assert_null(asx_event_type_name(ASX_EV_COUNT));
  assert_string_equal(fs[2].name, "buyer");
  assert_string_equal(fs[2].member, "trader");
  assert_string_equal(fs[2].tag, "buyer");
  assert_null(fs[0].tag);
  const asx_event_field *agent_id = &fs[8 + 6 + 6 + 8 + 7];
  assert_int_equal(agent_id->type, ASX_EV_AGENT);
  assert_null(agent_id->member);
  assert_string_equal(agent_id->tag, "trader");
  assert_string_equal(asx_event_side_name(ASX_BUY), "buy");
  assert_string_equal(asx_event_reason_name(ASX_TRIM_LIMIT), "limit");
  assert_string_equal(asx_event_reason_name(99), "limit");
  assert_string_equal(fs[7].name, "instrument");
  assert_string_equal(fs[7].member, "instrument_name");
  assert_int_equal(fs[7].kind, ASX_EVF_NAME);
  assert_string_equal(asx_event_type_name(ASX_EV_AMEND), "amend");
  assert_null(asx_event_cancel_reason_name(ASX_CANCEL_ASKED));
  assert_string_equal(asx_event_cancel_reason_name(ASX_CANCEL_POST_ONLY), "post_only");
  assert_string_equal(asx_event_cancel_reason_name(ASX_CANCEL_TOO_LATE), "too_late");
  assert_null(asx_event_cancel_reason_name(99));
}

/* A cancel's reason is written when it has one (an empty CSV field, no JSON
 * key and no tag when its trader asked); an amend has its own type; every
 * book event ends with its instrument, and a record made without a name
 * writes none. */
static void test_reasons_amend_instrument(void **state) {
  asx_event_fmt f;
  asx_event ioc = ev(ASX_EV_CANCEL, 2, 0, 3, 0, 4, 0, 9, 0, ASX_BUY, ASX_CANCEL_IOC);
  ioc.instrument_name = "BOLT";
  asx_event amend = ev(ASX_EV_AMEND, 3, 50, 10, 4, 5, 0, 9, 0, ASX_SELL, 0);
  asx_event bare = ev(ASX_EV_ORDER, 1, 7, 2, 0, 1, 0, 9, 0, ASX_BUY, 0);
  bare.instrument_name = NULL;

  asx_event_fmt_init(&f, ASX_EVENT_CSV);
  assert_string_equal(encode(&f, &ioc), "2,,4,9,buy,3,ioc,BOLT\n");
  assert_string_equal(encode(&f, &amend), "3,,5,9,sell,50,10,4,STOCK\n");
  assert_string_equal(encode(&f, &bare), "1,,1,9,buy,7,2,\n");

  asx_event_fmt_init(&f, ASX_EVENT_JSON);
  assert_string_equal(encode(&f, &ioc),
                      "{\"type\":\"cancel\",\"time\":2,\"session\":null,\"id\":4,\"trader\":9,"
                      "\"side\":\"buy\",\"remaining\":3,\"reason\":\"ioc\",\"instrument\":\"BOLT\"}\n");
  assert_string_equal(encode(&f, &amend),
                      "{\"type\":\"amend\",\"time\":3,\"session\":null,\"id\":5,\"trader\":9,"
                      "\"side\":\"sell\",\"price\":50,\"from\":10,\"to\":4,\"instrument\":\"STOCK\"}\n");

  asx_event_fmt_init(&f, ASX_EVENT_LINE);
  assert_string_equal(encode(&f, &ioc),
                      "cancel,instrument=BOLT,reason=ioc,side=buy,trader=9 id=4i,remaining=3i");
  ioc.reason = ASX_CANCEL_ASKED;
  assert_string_equal(encode(&f, &ioc), "cancel,instrument=BOLT,side=buy,trader=9 id=4i,remaining=3i");
  assert_string_equal(encode(&f, &bare), "order,side=buy,trader=9 id=1i,price=7i,amount=2i");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_every_format),
    cmocka_unit_test(test_session_per_format),
    cmocka_unit_test(test_schema),
    cmocka_unit_test(test_reasons_amend_instrument),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
