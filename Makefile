# Two commands do everything on a fresh machine (see README.md).
.PHONY: demo test build install
PREFIX ?= /usr/local
demo:   ## the main job on the embedded default (local-directory store), no server needed
	bash .ci/demo
test:   ## every test: build packages, both real servers on 127.0.0.1, unit and integration tests
	bash Tests/run-all.sh
build:
	bash .ci/setup && PATH=$$PATH:/opt/swift/usr/bin swift-build
install: ## the C API: PREFIX/lib/libchunkvol.so, PREFIX/include/chunkvol.h, PREFIX/lib/pkgconfig/chunkvol.pc
	bash .ci/setup && bash Install/install-capi.sh "$(PREFIX)"
