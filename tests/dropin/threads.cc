// threads.cc - a multi-threaded C++ program for check_preload.sh: 8 workers
// churning std::map / std::string / std::vector / std::shared_ptr /
// std::unordered_map, and a producer-consumer queue whose items are freed by
// other threads than the ones that made them. Every result is a function of
// the seeds only, so the output is the same under any malloc and schedule.
// Usage: dropin-threads [rounds]   (default 20000 per worker)
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

struct Rng {
	uint64_t s;
	uint64_t next()
	{
		s += 0x9e3779b97f4a7c15ull;
		uint64_t x = s;
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
		return x ^ (x >> 31);
	}
	size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

uint64_t fnv(const std::string &s, uint64_t h = 1469598103934665603ull)
{
	for (unsigned char c : s)
		h = (h ^ c) * 1099511628211ull;
	return h;
}

struct Node {
	std::string name;
	std::vector<int> data;
	std::shared_ptr<Node> next;
};

// map/string/vector/shared_ptr churn; returns a digest of the final state
uint64_t worker(unsigned id, unsigned rounds)
{
	Rng r{1000u + id};
	std::map<std::string, std::vector<uint32_t>> m;
	std::unordered_map<uint64_t, std::string> u;
	std::vector<std::shared_ptr<Node>> nodes;
	uint64_t h = 0;

	for (unsigned i = 0; i < rounds; i++) {
		std::string key = "k" + std::to_string(r.below(2000)) + std::string(r.below(40), 'x');
		switch (r.below(8)) {
		case 0:
		case 1: {
			auto &v = m[key];
			size_t n = r.below(64);
			for (size_t j = 0; j < n; j++)
				v.push_back(static_cast<uint32_t>(r.next()));
			break;
		}
		case 2:
			m.erase(key);
			break;
		case 3: {
			std::string s;
			for (size_t j = r.below(30); j > 0; j--)
				s += std::to_string(r.next() % 1000) + ",";
			u[r.below(5000)] = s;
			break;
		}
		case 4:
			u.erase(r.below(5000));
			break;
		case 5: {
			auto n = std::make_shared<Node>();
			n->name = key;
			n->data.assign(r.below(500), static_cast<int>(i));
			if (!nodes.empty())
				n->next = nodes[r.below(nodes.size())];
			nodes.push_back(std::move(n));
			if (nodes.size() > 300)
				nodes.erase(nodes.begin(), nodes.begin() + 150);
			break;
		}
		case 6: {
			auto it = m.find(key);
			if (it != m.end()) {
				std::vector<uint32_t> copy = it->second;
				std::sort(copy.begin(), copy.end());
				copy.erase(std::unique(copy.begin(), copy.end()), copy.end());
				it->second.swap(copy);
			}
			break;
		}
		default: {
			std::string big(r.below(16384) + 1, static_cast<char>('a' + r.below(26)));
			big.replace(0, std::min<size_t>(big.size(), key.size()), key);
			h ^= fnv(big);
			break;
		}
		}
	}
	for (const auto &kv : m) {
		h = fnv(kv.first, h);
		for (uint32_t x : kv.second)
			h = (h ^ x) * 1099511628211ull;
	}
	std::vector<uint64_t> keys;
	for (const auto &kv : u)
		keys.push_back(kv.first);
	std::sort(keys.begin(), keys.end());
	for (uint64_t k : keys)
		h = fnv(u[k], h ^ k);
	for (const auto &n : nodes) {
		h = fnv(n->name, h) + n->data.size();
		for (auto p = n->next; p; p = p->next)
			h += p->data.size();
	}
	return h;
}

// producer-consumer: items made by producers, checked and freed by consumers
struct Item {
	unsigned producer, seq;
	std::string text;
	std::vector<uint64_t> payload;
};

struct Queue {
	std::mutex mu;
	std::condition_variable cv_items, cv_room;
	std::deque<std::unique_ptr<Item>> q;
	unsigned producers_left = 0;
};

} // namespace

int main(int argc, char **argv)
{
	const unsigned rounds = argc > 1 ? static_cast<unsigned>(std::strtoul(argv[1], nullptr, 10)) : 20000;
	const unsigned workers = 8, producers = 4, consumers = 4, items = 20000;
	std::vector<uint64_t> digest(workers);
	std::vector<std::thread> threads;

	for (unsigned i = 0; i < workers; i++)
		threads.emplace_back([&digest, i, rounds] { digest[i] = worker(i, rounds); });
	for (auto &t : threads)
		t.join();
	for (unsigned i = 0; i < workers; i++)
		std::printf("worker %u: %016llx\n", i, static_cast<unsigned long long>(digest[i]));

	Queue queue;
	queue.producers_left = producers;
	std::vector<uint64_t> sums(consumers), counts(consumers);
	std::mutex bad_mu;
	unsigned bad = 0;
	threads.clear();
	for (unsigned c = 0; c < consumers; c++)
		threads.emplace_back([&, c] {
			for (;;) {
				std::unique_ptr<Item> it;
				{
					std::unique_lock<std::mutex> lk(queue.mu);
					queue.cv_items.wait(lk, [&] { return !queue.q.empty() || queue.producers_left == 0; });
					if (queue.q.empty())
						return;
					it = std::move(queue.q.front());
					queue.q.pop_front();
				}
				queue.cv_room.notify_one();
				uint64_t s = fnv(it->text);
				for (size_t j = 0; j < it->payload.size(); j++)
					if (it->payload[j] != it->seq * 31ull + j) {
						std::lock_guard<std::mutex> g(bad_mu);
						bad++;
					}
				s += it->payload.size();
				sums[c] += s; // a sum: independent of which consumer got what
				counts[c]++;
			}
		});
	for (unsigned p = 0; p < producers; p++)
		threads.emplace_back([&, p] {
			Rng r{77u + p};
			for (unsigned i = 0; i < items; i++) {
				auto it = std::make_unique<Item>();
				it->producer = p;
				it->seq = i;
				it->text = "item " + std::to_string(p) + "/" + std::to_string(i) +
					   std::string(r.below(300), '#');
				for (size_t j = r.below(200); j > 0; j--)
					it->payload.push_back(i * 31ull + it->payload.size());
				std::unique_lock<std::mutex> lk(queue.mu);
				queue.cv_room.wait(lk, [&] { return queue.q.size() < 256; });
				queue.q.push_back(std::move(it));
				lk.unlock();
				queue.cv_items.notify_one();
			}
			std::lock_guard<std::mutex> lk(queue.mu);
			queue.producers_left--;
			queue.cv_items.notify_all();
		});
	for (auto &t : threads)
		t.join();
	uint64_t total = 0, n = 0;
	for (unsigned c = 0; c < consumers; c++) {
		total += sums[c];
		n += counts[c];
	}
	std::printf("queue: %llu items, checksum %016llx, %u damaged\n", static_cast<unsigned long long>(n),
		    static_cast<unsigned long long>(total), bad);
	return bad == 0 && n == uint64_t(producers) * items ? 0 : 1;
}
