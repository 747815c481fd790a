"""An independent gRPC client for the benchmark: Debian's python3-grpcio
(the C-core library), talking to jobworker over mutual TLS with raw
protobuf bytes (no generated code).

  ccore_client.py stream ADDR CERTS_DIR USER JOB_ID
      drains StreamOutput(JOB_ID) from offset 0; prints JSON
      {"bytes": N, "seconds": S, "cpu_seconds": C}
  ccore_client.py follow ADDR CERTS_DIR USER JOB_ID COUNT CONNECTIONS
      COUNT followers of one job over CONNECTIONS channels; each output line
      is "<ns since epoch>"; prints JSON with every delivery latency (ms),
      lines per follower, and CPU and wall seconds from the first line on
"""
import json
import os
import sys
import time

import grpc


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def stream_request(job_id, offset=0):
    data = job_id.encode()
    return b"\x0a" + varint(len(data)) + data + b"\x10" + varint(offset)


def chunk_data(message):
    """The data field (2) of an OutputChunk, by walking its fields."""
    i = 0
    data = b""
    while i < len(message):
        tag = message[i]
        i += 1
        if tag == 0x08:  # offset, varint
            while message[i] & 0x80:
                i += 1
            i += 1
        elif tag == 0x12:  # data, length-delimited
            length = 0
            shift = 0
            while True:
                b = message[i]
                i += 1
                length |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            data = message[i:i + length]
            i += length
        else:
            raise ValueError("unexpected field")
    return data


def _credentials(certs, user):
    """The TLS credentials of `user` from the certificates directory `certs`."""

    def read(name):
        with open(os.path.join(certs, name), "rb") as f:
            return f.read()

    return grpc.ssl_channel_credentials(
        root_certificates=read("ca.pem"),
        private_key=read(user + "-key.pem"),
        certificate_chain=read(user + ".pem"),
    )


_OPTIONS = [
    ("grpc.ssl_target_name_override", "localhost"),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]


def channel(addr, certs, user):
    return grpc.secure_channel(addr, _credentials(certs, user), _OPTIONS)


def aio_channel(addr, certs, user):
    from grpc import aio

    # One TCP connection per channel, not one shared by all channels.
    options = _OPTIONS + [("grpc.use_local_subchannel_pool", 1)]
    return aio.secure_channel(addr, _credentials(certs, user), options)


def stream_call(ch):
    return ch.unary_stream(
        "/jobworker.v1.JobWorker/StreamOutput",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )


def stream(addr, certs, user, job_id):
    ch = channel(addr, certs, user)
    call = stream_call(ch)
    cpu0 = time.process_time()
    t0 = time.monotonic()
    total = 0
    for message in call(stream_request(job_id)):
        total += len(message)
    seconds = time.monotonic() - t0
    print(json.dumps({"bytes": total, "seconds": seconds,
                      "cpu_seconds": time.process_time() - cpu0}))


def follow(addr, certs, user, job_id, count, connections):
    """Asyncio on one thread: 1000 OS threads would spend the CPU handing the
    interpreter lock around. Arrivals are only stamped while the job runs;
    the lines are parsed after the stream ended, so the measuring client
    does as little as it can while it measures."""
    import asyncio

    async def main():
        channels = [aio_channel(addr, certs, user) for _ in range(connections)]
        arrivals = [[] for _ in range(count)]
        seen = []

        async def run(i):
            call = channels[i % connections].unary_stream(
                "/jobworker.v1.JobWorker/StreamOutput",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            got = arrivals[i]
            async for message in call(stream_request(job_id)):
                got.append((time.time_ns(), message))
                if not seen:
                    seen.extend((time.monotonic(), time.process_time()))

        await asyncio.gather(*(run(i) for i in range(count)))
        cpu = time.process_time() - seen[1] if seen else 0.0
        active = time.monotonic() - seen[0] if seen else 0.0
        for ch in channels:
            await ch.close()
        return arrivals, cpu, active

    arrivals, cpu, active = asyncio.run(main())
    latencies = []
    counts = []
    for got in arrivals:
        pending = b""
        n = 0
        for now, message in got:
            pending += chunk_data(message)
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line:
                    latencies.append((now - int(line)) / 1e6)
                    n += 1
        counts.append(n)
    # CPU and wall time from the first line on: connecting is not the pace.
    print(json.dumps({"latencies_ms": latencies, "per_follower": counts,
                      "cpu_seconds": cpu, "active_seconds": active}))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "stream":
        stream(*sys.argv[2:6])
    elif mode == "follow":
        follow(*sys.argv[2:6], int(sys.argv[6]), int(sys.argv[7]))
    else:
        sys.exit("usage: see the module doc")
