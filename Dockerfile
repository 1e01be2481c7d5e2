# filelock server image: a static filelockd built by `make build` (the
# target CI runs), on a distroless base with no shell, run as non-root.
#   docker build -t filelock --build-arg VERSION=$(git describe --tags --always) .
#   docker run -p 8000:8000 -e FILELOCK_STORE_BACKEND=redis -e FILELOCK_REDIS_ADDRS=redis:6379 filelock
# Settings: FILELOCK_SECTION_KEY environment variables, or a file mounted
# over /etc/filelock/filelock.yaml. `docker run filelock check-config`
# prints the effective configuration.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
ARG COMMIT=
RUN make build VERSION="${VERSION}" COMMIT="${COMMIT}" BIN=/out/filelockd \
    && /out/filelockd version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/filelockd /usr/local/bin/filelockd
COPY configs/filelock.yaml /etc/filelock/filelock.yaml
USER nonroot:nonroot
EXPOSE 8000
# /readyz of http.addr (the same FILELOCK_* environment as the server); no shell needed.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/filelockd", "healthcheck", "--config", "/etc/filelock/filelock.yaml"]
ENTRYPOINT ["/usr/local/bin/filelockd"]
CMD ["serve", "--config", "/etc/filelock/filelock.yaml"]
