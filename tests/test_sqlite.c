/* test_sqlite.c - SQLite on the kmem page cache (kmem/sqlite.h): one SQL
 * workload (inserts, indexes, joins, aggregates, updates, deletes, vacuum)
 * on a database file with a small cache_size, under SQLite's default page
 * cache and under kmem's with every built-in policy. Every run must give
 * the same query results (a hash of every row of every query); the hit
 * ratios are printed; the page caches pass their checker; xShrink
 * (sqlite3_db_release_memory) gives frames back; the cache size limit is
 * kept when pages are unpinned.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include <kmem/sqlite.h>

#define CACHE_PAGES 48

static unsigned scale(unsigned n)
{
	return getenv("KMEM_TEST_UNDER_VALGRIND") ? n / 10 : n;
}

struct result {
	uint64_t hash;
	uint64_t rows;
	int hit, miss;		/* SQLite's own view: SQLITE_DBSTATUS_CACHE_HIT/MISS */
};

static void fnv(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= 0x100000001b3ull;
	}
}

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "sql: %s: %s\n", sql, err ? err : "?");
		sqlite3_free(err);
		fail();
	}
}

static void query(sqlite3 *db, const char *sql, struct result *r)
{
	sqlite3_stmt *st;
	int rc;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const unsigned char *t = sqlite3_column_text(st, c);

			fnv(&r->hash, t ? (const void *)t : "(null)", t ? strlen((const char *)t) : 6);
			fnv(&r->hash, "|", 1);
		}
		r->rows++;
	}
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
}

static void workload(sqlite3 *db, struct result *r)
{
	sqlite3_stmt *ins;
	uint64_t x = 12345;
	unsigned ncust = scale(4000), nord = scale(30000);
	char note[160];
	int cur, hi;

	exec(db, "PRAGMA synchronous=OFF; PRAGMA journal_mode=DELETE;");
	exec(db, "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, city TEXT, score INT);"
		 "CREATE TABLE orders(id INTEGER PRIMARY KEY, cust INT, amount INT, note TEXT);");
	exec(db, "BEGIN");
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO customers VALUES(?,?,?,?)", -1, &ins,
					    NULL), SQLITE_OK);
	for (unsigned i = 1; i <= ncust; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		snprintf(note, sizeof(note), "customer-%u-%llx", i, (unsigned long long)(x >> 20));
		sqlite3_bind_int(ins, 1, (int)i);
		sqlite3_bind_text(ins, 2, note, -1, SQLITE_TRANSIENT);
		snprintf(note, sizeof(note), "city%u", (unsigned)(x >> 59));
		sqlite3_bind_text(ins, 3, note, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(ins, 4, (int)((x >> 33) % 1000));
		assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO orders VALUES(?,?,?,?)", -1, &ins, NULL),
			 SQLITE_OK);
	for (unsigned i = 1; i <= nord; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		sqlite3_bind_int(ins, 1, (int)i);
		sqlite3_bind_int(ins, 2, (int)(1 + (x >> 35) % ncust));
		sqlite3_bind_int(ins, 3, (int)((x >> 17) % 1000));
		snprintf(note, sizeof(note), "order %u of a customer, with some text to fill pages %llx",
			 i, (unsigned long long)x);
		sqlite3_bind_text(ins, 4, note, -1, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	exec(db, "COMMIT");
	exec(db, "CREATE INDEX orders_cust ON orders(cust); CREATE INDEX customers_city ON customers(city);"
		 "CREATE INDEX orders_amount ON orders(amount);");
	exec(db, "UPDATE orders SET amount = amount * 2 WHERE id % 7 = 0;"
		 "UPDATE customers SET score = score + 1 WHERE city = 'city3';"
		 "DELETE FROM orders WHERE amount % 13 = 0;");
	query(db, "SELECT c.city, count(*), sum(o.amount) FROM customers c JOIN orders o ON o.cust = c.id "
		  "GROUP BY c.city ORDER BY c.city", r);
	query(db, "SELECT id, name, score FROM customers WHERE city = 'city7' ORDER BY score DESC, id "
		  "LIMIT 50", r);
	query(db, "SELECT o.id, o.amount, c.name FROM orders o JOIN customers c ON c.id = o.cust "
		  "WHERE o.amount > 1900 ORDER BY o.id", r);
	query(db, "SELECT cust, count(*), max(amount) FROM orders GROUP BY cust HAVING count(*) > 9 "
		  "ORDER BY cust", r);
	exec(db, "VACUUM");
	query(db, "SELECT c.city, count(*), sum(o.amount) FROM customers c JOIN orders o ON o.cust = c.id "
		  "GROUP BY c.city ORDER BY c.city", r);
	query(db, "SELECT count(*), sum(length(note)), min(id), max(id) FROM orders", r);
	assert_int_equal(sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_HIT, &cur, &hi, 0), SQLITE_OK);
	r->hit = cur;
	assert_int_equal(sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_MISS, &cur, &hi, 0), SQLITE_OK);
	r->miss = cur;
}

static char dbpath[64];

static sqlite3 *open_db(void)
{
	sqlite3 *db;
	char pragma[64];

	unlink(dbpath);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	snprintf(pragma, sizeof(pragma), "PRAGMA cache_size=%d", CACHE_PAGES);
	exec(db, pragma);
	return db;
}

static void run_default(struct result *r)
{
	sqlite3 *db;

	sqlite3_shutdown();
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
	db = open_db();
	workload(db, r);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void run_kmem(const struct kmem_rp_ops *policy, uint32_t pool, struct result *r,
		     struct kmem_pc_stats *st)
{
	struct kmem_sqlite_config cfg = {.arena_bytes = 16 << 20, .policy = policy,
					 .pool_pages = pool, .scope = KMEM_PC_LOCAL};
	struct kmem_pc_stats before, after;
	sqlite3 *db;

	sqlite3_shutdown();
	assert_int_equal(kmem_sqlite_install(&cfg), SQLITE_OK);
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
	db = open_db();
	workload(db, r);
	assert_int_equal(kmem_sqlite_check(), 0);
	/* the cache size limit: SQLite's pages are unpinned between statements */
	kmem_sqlite_get_stats(&before);
	assert_true(before.used <= CACHE_PAGES + 1);
	assert_true(before.used > 0);
	/* xShrink: every unpinned page's frame goes back */
	sqlite3_db_release_memory(db);
	kmem_sqlite_get_stats(&after);
	assert_true(after.used < before.used);
	assert_int_equal(kmem_sqlite_check(), 0);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	kmem_sqlite_get_stats(st);
	assert_int_equal(st->misuse, 0);
	assert_true(st->refs > st->hits);
	assert_true(st->pgfault > 100);	/* replacement happened */
	sqlite3_shutdown();
	/* back to SQLite's own cache for the next run */
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_PCACHE2, &(sqlite3_pcache_methods2){0}),
			 SQLITE_OK);
}

static void test_policies(void **state)
{
	struct result ref = {0xcbf29ce484222325ull, 0, 0, 0};
	int fd;

	(void)state;
	snprintf(dbpath, sizeof(dbpath), "/tmp/kmem-sqlite-XXXXXX");
	fd = mkstemp(dbpath);
	assert_true(fd >= 0);
	close(fd);
	run_default(&ref);
	assert_true(ref.rows > 100);
	print_message("[ sqlite   ] %-8s rows %llu hash %016llx  sqlite hit %5.1f%%\n", "default",
		      (unsigned long long)ref.rows, (unsigned long long)ref.hash,
		      100.0 * ref.hit / (ref.hit + ref.miss));
	for (unsigned i = 0;; i++) {
		const struct kmem_rp_ops *ops = kmem_rp_builtin(i);

		if (!ops)
			break;
		for (uint32_t pool = 0; pool <= 8; pool += 8) {
			struct result r = {0xcbf29ce484222325ull, 0, 0, 0};
			struct kmem_pc_stats st;

			run_kmem(ops, pool, &r, &st);
			print_message("[ sqlite   ] %-5s pool %u rows %llu hash %016llx  sqlite hit %5.1f%%"
				      "  kmem hit %5.1f%% faults %llu refaults %llu\n",
				      ops->name, pool, (unsigned long long)r.rows,
				      (unsigned long long)r.hash, 100.0 * r.hit / (r.hit + r.miss),
				      st.hit_permille / 10.0, (unsigned long long)st.pgfault,
				      (unsigned long long)st.workingset_refault);
			assert_int_equal(r.rows, ref.rows);
			assert_true(r.hash == ref.hash);
		}
	}
	unlink(dbpath);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
