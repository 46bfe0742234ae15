# Dockerfile - the four tools and pipeline.sh on a small Debian runtime.
#   docker build -t fetch-awards .
FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        gcc make libc6-dev libcurl4-openssl-dev libyajl-dev libexpat1-dev \
        libssl-dev libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile pipeline.sh ./
COPY common common
COPY sqs-recv sqs-recv
COPY pii-mask pii-mask
COPY pg-load pg-load
COPY sqs-ack sqs-ack
COPY man man
RUN make -j"$(nproc)" && make install DESTDIR=/out PREFIX=/usr/local

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        bash ca-certificates libcurl4 libyajl2 libexpat1 libssl3 libpq5 tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home fetch
COPY --from=build /out/usr/local /usr/local
USER fetch
# No key is baked in: mount one (mode 600, owned by uid 10001) and point
# PII_MASK_KEY_FILE at it, e.g. a compose or Kubernetes secret.
# tini as PID 1 reaps and passes SIGTERM on to pipeline.sh, which drains
# the stages (sqs-recv first; the end of input flows down) and exits 0.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["pipeline.sh"]
