#include <openae/rt/spsc_queue.h>

#include <doctest/doctest.h>

#include <memory>
#include <thread>

TEST_CASE("ae::spsc_queue") {
    SUBCASE("first in, first out, up to capacity") {
        ae::spsc_queue<int> queue(3);
        CHECK(queue.capacity() == 3);
        CHECK(queue.try_push(1));
        CHECK(queue.try_push(2));
        CHECK(queue.try_push(3));
        CHECK_FALSE(queue.try_push(4));
        CHECK(queue.size() == 3);
        int out = 0;
        CHECK(queue.try_pop(out));
        CHECK(out == 1);
        CHECK(queue.try_push(4));
        for (int expected : {2, 3, 4}) {
            CHECK(queue.try_pop(out));
            CHECK(out == expected);
        }
        CHECK_FALSE(queue.try_pop(out));
        CHECK(queue.empty());
    }
    SUBCASE("move-only values: a full queue leaves the value with the sender") {
        ae::spsc_queue<std::unique_ptr<int>> queue(1);
        auto first = std::make_unique<int>(1);
        CHECK(queue.try_push(std::move(first)));
        CHECK(first == nullptr);
        auto second = std::make_unique<int>(2);
        CHECK_FALSE(queue.try_push(std::move(second)));
        REQUIRE(second != nullptr);
        CHECK(*second == 2);
        std::unique_ptr<int> out;
        CHECK(queue.try_pop(out));
        CHECK(*out == 1);
    }
    SUBCASE("two threads: every value arrives once, in order") {
        ae::spsc_queue<std::uint64_t> queue(64);
        constexpr std::uint64_t total = 1'000'000;
        std::thread producer([&queue] {
            for (std::uint64_t i = 0; i < total;) {
                if (queue.try_push(i)) ++i;
            }
        });
        std::uint64_t expected = 0;
        std::uint64_t out_of_order = 0;
        while (expected < total) {
            std::uint64_t value = 0;
            if (!queue.try_pop(value)) continue;
            if (value != expected) ++out_of_order;
            expected = value + 1;
        }
        producer.join();
        CHECK(out_of_order == 0);
    }
    SUBCASE("split: each end does its one job, and the ends are handed out once") {
        ae::spsc_queue<int> queue(2);
        auto [producer, consumer] = queue.split();
        REQUIRE(producer);
        REQUIRE(consumer);
        CHECK(consumer.empty());
        CHECK(producer.try_push(7));
        int out = 0;
        CHECK(consumer.try_pop(out));
        CHECK(out == 7);
        CHECK_FALSE(consumer.try_pop(out));
        auto [again_producer, again_consumer] = queue.split();
        CHECK_FALSE(again_producer);
        CHECK_FALSE(again_consumer);
        ae::spsc_producer<int> moved = std::move(producer);
        CHECK(moved);
        CHECK_FALSE(producer); // NOLINT(bugprone-use-after-move): a moved-from end is empty
    }
}
