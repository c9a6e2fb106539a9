// The baseline for the event-volume workload: librdkafka used directly, as a C program would,
// with none of TrafficManager between the caller and the producer or consumer.
#ifndef RAW_KAFKA_H
#define RAW_KAFKA_H

#include <stddef.h>
#include <stdint.h>

/// What one raw run did.
typedef struct {
    /// From the first produce (or the first message consumed) to the last delivery report
    /// (or the last message consumed).
    double seconds;
    /// Messages acknowledged (producer) or read (consumer).
    long ok;
    /// Messages whose delivery report carried an error (producer).
    long failed;
} raw_kafka_result;

/// Produces `count` messages to `topic` through an idempotent producer with acks=all and the
/// given linger, and waits for every delivery report. Message `i` has the key
/// `keys[key_offsets[i] ..< key_offsets[i + 1]]`, the value likewise from `values`, and one
/// header `event_id` likewise from `ids`. Returns 0, or -1 with a message in `error`.
int raw_kafka_produce(
    const char *bootstrap, const char *topic, const char *linger_ms, long count,
    const uint8_t *keys, const size_t *key_offsets, const uint8_t *values, const size_t *value_offsets,
    const uint8_t *ids, const size_t *id_offsets, raw_kafka_result *result, char *error, size_t error_size);

/// Reads `topic` from the start as a member of `group` until `count` messages were read or
/// `timeout_ms` passed with nothing read, committing nothing. Returns 0, or -1 with a message in `error`.
int raw_kafka_consume(
    const char *bootstrap, const char *topic, const char *group, long count, int timeout_ms,
    raw_kafka_result *result, char *error, size_t error_size);

#endif
