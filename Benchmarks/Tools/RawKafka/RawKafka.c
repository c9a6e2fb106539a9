#include "RawKafka.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int set(rd_kafka_conf_t *conf, const char *name, const char *value, char *error, size_t error_size) {
    if (rd_kafka_conf_set(conf, name, value, error, error_size) != RD_KAFKA_CONF_OK) return -1;
    return 0;
}

typedef struct {
    long ok;
    long failed;
    double last;
} delivery_counts;

static void on_delivery(rd_kafka_t *handle, const rd_kafka_message_t *message, void *opaque) {
    (void)handle;
    delivery_counts *counts = opaque;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) counts->ok += 1; else counts->failed += 1;
    counts->last = now_seconds();
}

int raw_kafka_produce(
    const char *bootstrap, const char *topic, const char *linger_ms, long count,
    const uint8_t *keys, const size_t *key_offsets, const uint8_t *values, const size_t *value_offsets,
    const uint8_t *ids, const size_t *id_offsets, raw_kafka_result *result, char *error, size_t error_size) {
    delivery_counts counts = {0, 0, 0};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", bootstrap, error, error_size) || set(conf, "enable.idempotence", "true", error, error_size) ||
        set(conf, "acks", "all", error, error_size) || set(conf, "linger.ms", linger_ms, error, error_size) ||
        set(conf, "partitioner", "murmur2_random", error, error_size) || set(conf, "log_level", "3", error, error_size) ||
        set(conf, "socket.nagle.disable", "true", error, error_size)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &counts);
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, error_size);
    if (!producer) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    double start = now_seconds();
    for (long i = 0; i < count; i++) {
        for (;;) {
            rd_kafka_headers_t *headers = rd_kafka_headers_new(1);
            rd_kafka_header_add(headers, "event_id", -1, ids + id_offsets[i], (ssize_t)(id_offsets[i + 1] - id_offsets[i]));
            rd_kafka_resp_err_t err = rd_kafka_producev(
                producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_KEY((void *)(keys + key_offsets[i]), key_offsets[i + 1] - key_offsets[i]),
                RD_KAFKA_V_VALUE((void *)(values + value_offsets[i]), value_offsets[i + 1] - value_offsets[i]),
                RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
            rd_kafka_headers_destroy(headers);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                snprintf(error, error_size, "produce failed: %s", rd_kafka_err2str(err));
                rd_kafka_destroy(producer);
                return -1;
            }
            rd_kafka_poll(producer, 1);
        }
        rd_kafka_poll(producer, 0);
    }
    rd_kafka_flush(producer, 120000);
    result->seconds = counts.last - start;
    result->ok = counts.ok;
    result->failed = counts.failed + (count - counts.ok - counts.failed);
    rd_kafka_destroy(producer);
    return 0;
}

int raw_kafka_consume(
    const char *bootstrap, const char *topic, const char *group, long count, int timeout_ms,
    raw_kafka_result *result, char *error, size_t error_size) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", bootstrap, error, error_size) || set(conf, "group.id", group, error, error_size) ||
        set(conf, "auto.offset.reset", "earliest", error, error_size) || set(conf, "enable.auto.commit", "false", error, error_size) ||
        set(conf, "log_level", "3", error, error_size) || set(conf, "socket.nagle.disable", "true", error, error_size)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, error_size);
    if (!consumer) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        snprintf(error, error_size, "subscribe failed: %s", rd_kafka_err2str(err));
        rd_kafka_destroy(consumer);
        return -1;
    }
    long read = 0;
    double first = 0, last = 0, idle_since = now_seconds();
    while (read < count && (now_seconds() - idle_since) * 1000 < timeout_ms) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 100);
        if (!message) continue;
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (read == 0) first = now_seconds();
            read += 1;
            last = now_seconds();
            idle_since = last;
        }
        rd_kafka_message_destroy(message);
    }
    result->seconds = last - first;
    result->ok = read;
    result->failed = 0;
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return 0;
}
