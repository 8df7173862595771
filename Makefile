# userapi: build, run, test and benchmark (wraps kodev).
#
# kodev names an application after its directory and wants
# conf/<name>.conf (Kore 4.1), so the binaries are built in a staging
# directory named userapi whatever this checkout is called:
# .build/userapi/{conf,src,assets} link back here. Each flavor has its own
# object directory because Kore itself is compiled with the flavor's flags.
# Kore is compiled from .build/kore: a copy of Debian's sources with
# patches/kore/*.patch applied in order (conf/build.conf's kore_source).

SHELL		:= /bin/bash
TOP		:= $(CURDIR)
BUILD		:= $(TOP)/.build
STAGE		:= $(BUILD)/userapi
KORE_FEATURES	:= PGSQL=1 TASKS=1
KORE_DIST	:= /usr/share/kore
KORE_SRC	:= $(BUILD)/kore
KORE_PATCHES	:= $(sort $(wildcard patches/kore/*.patch))
KORE_STAMP	:= $(KORE_SRC)/.patched
APPNAME		:= $(notdir $(TOP))
SOURCES		:= $(shell find conf src assets sql migrations -type f 2>/dev/null)
HEADERS		:= $(shell find src -name '*.h' 2>/dev/null)

.PHONY: all deps deps-build deps-run deps-test deps-bench deps-dev build \
	sanitize run dev db db-stop stop psql test unit e2e bench clean \
	fuzz deps-fuzz \
	kodev-setup assets-vendor kore-source test-image

all: build kodev-setup

# --- packages (one list: packages.txt) --------------------------------------
deps: deps-build
deps-build:
	@scripts/deps.sh build
deps-run:
	@scripts/deps.sh build run
deps-test:
	@scripts/deps.sh build run test
deps-bench:
	@scripts/deps.sh build run bench
deps-fuzz:
	@scripts/deps.sh build test fuzz
deps-dev:
	@scripts/deps.sh build run dev

# --- Kore, patched ----------------------------------------------------------
# A fresh copy of Debian's Kore sources with every patch applied in order,
# whenever a patch or those sources change. A patch that does not apply
# exactly (no fuzz) stops the build and names it. The copy's files are new,
# so every flavor recompiles Kore's objects from it.
kore-source: $(KORE_STAMP)
$(KORE_STAMP): $(KORE_PATCHES) $(wildcard $(KORE_DIST)/Makefile \
		$(KORE_DIST)/src/*.c $(KORE_DIST)/include/kore/*.h)
	@command -v patch >/dev/null || { echo "patch not found: run make deps"; exit 1; }
	@test -f $(KORE_DIST)/Makefile || { echo "no Kore sources in $(KORE_DIST): run make deps"; exit 1; }
	@rm -rf $(KORE_SRC).new && mkdir -p $(BUILD) && cp -R $(KORE_DIST) $(KORE_SRC).new
	@for p in $(KORE_PATCHES); do \
		if ! out=$$(patch -d $(KORE_SRC).new -p1 -F0 -N -s \
		    --no-backup-if-mismatch -r - < $$p 2>&1); then \
			echo "$$out"; \
			echo "error: $$p does not apply to Kore $$(cat $(KORE_DIST)/RELEASE) in $(KORE_DIST)"; \
			rm -rf $(KORE_SRC).new; exit 1; fi; done
	@rm -rf $(KORE_SRC) && mv $(KORE_SRC).new $(KORE_SRC) && echo $(KORE_PATCHES) > $@
	@echo "patched Kore $$(cat $(KORE_DIST)/RELEASE) with $(words $(KORE_PATCHES)) patches into $(KORE_SRC)"

# The stamp lists the series it was made with: a patch taken out of the
# series remakes the copy too.
ifneq ($(shell cat $(KORE_STAMP) 2>/dev/null),$(strip $(KORE_PATCHES)))
$(KORE_STAMP): FORCE
endif

# --- binaries ---------------------------------------------------------------
# $(call kodev_build,flavor,kore features)
define kodev_build
	@dups=$$(find src -name '*.c' -printf '%f\n' | sort | uniq -d); \
	    if [ -n "$$dups" ]; then echo "source names must be unique under src/ (kodev keeps one object dir): $$dups"; exit 1; fi
	@mkdir -p $(STAGE) $(BUILD)/$(1)
	@for d in conf src assets; do ln -sfn $(TOP)/$$d $(STAGE)/$$d; done
	@if [ -n "$$(find $(HEADERS) conf/build.conf $(KORE_STAMP) -newer $(BUILD)/$(1)/userapi 2>/dev/null)" ]; then \
		rm -f $(BUILD)/obj-$(1)/*.c.o; fi
	@cd $(STAGE) && KORE_BUILD_FLAVOR=$(1) KORE_OBJDIR=$(BUILD)/obj-$(1) \
	    KORE_SOURCE=$(KORE_SRC) KORE_FLAVOR="$(2)" \
	    KODEV_OUTPUT=$(BUILD)/$(1) kodev build \
	    > $(BUILD)/$(1)/build.log 2>&1 || { cat $(BUILD)/$(1)/build.log; exit 1; }
	@grep -E ': (warning|error):' $(BUILD)/$(1)/build.log || true
endef

build: deps-build userapi
# ./userapi is a copy of the release build: in a checkout named userapi,
# `kodev run` writes its dev build there, and the next `make` puts the
# release build back.
userapi: $(BUILD)/prod/userapi FORCE
	@cmp -s $< $@ || { cp $< $@ && echo "built ./userapi"; }
$(BUILD)/prod/userapi: $(SOURCES) $(KORE_STAMP) Makefile | assets-vendor
	$(call kodev_build,prod,$(KORE_FEATURES))

FORCE:

sanitize: deps-build $(BUILD)/sanitize/userapi
$(BUILD)/sanitize/userapi: $(SOURCES) $(KORE_STAMP) Makefile | assets-vendor
	$(call kodev_build,sanitize,$(KORE_FEATURES) SANITIZE=address$(,)undefined)

, := ,

# --- third-party browser assets ---------------------------------------------
# Swagger UI and ReDoc come from npm, pinned in package.json and
# package-lock.json. `npm ci` runs only when node_modules is missing or the
# lockfile changed (no network otherwise); then only the files the pages
# use are copied into assets/vendor/ (gitignored), where kodev compiles
# them in like the rest of assets/. A file is copied only when its content
# changed, so kodev rebuilds the big C arrays only then. The builds depend
# on this order-only: it runs first, and rebuilds only what changed.
VENDOR_FILES	:= swagger-ui-dist/swagger-ui-bundle.js \
		   swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt \
		   swagger-ui-dist/swagger-ui.css \
		   redoc/bundles/redoc.standalone.js \
		   redoc/bundles/redoc.standalone.js.LICENSE.txt

assets-vendor: node_modules/.userapi-npm-ci
	@mkdir -p assets/vendor
	@for f in $(VENDOR_FILES); do \
		cmp -s node_modules/$$f assets/vendor/$${f##*/} || \
		    cp node_modules/$$f assets/vendor/ || exit 1; done

node_modules/.userapi-npm-ci: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: run make deps"; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

# `kodev run` in this directory: kodev wants conf/<directory name>.conf and
# builds Kore into .objs from kore_source (conf/build.conf: .build/kore,
# relative to this directory); prepare all three. .objs is rebuilt when the
# patched copy is newer.
kodev-setup: $(KORE_STAMP)
	@if [ "$(APPNAME)" != userapi ] && [ ! -e conf/$(APPNAME).conf ]; then \
		ln -s userapi.conf conf/$(APPNAME).conf; \
		echo "linked conf/$(APPNAME).conf -> userapi.conf for kodev"; fi
	@if [ ! -f .objs/ldflags ] || [ $(KORE_STAMP) -nt .objs/ldflags ]; then \
		rm -f .objs/*.o .objs/ldflags && mkdir -p .objs && \
		$(MAKE) -s -C $(KORE_SRC) objects OBJDIR=$(TOP)/.objs \
		$(KORE_FEATURES) KORE_SINGLE_BINARY=1 >/dev/null; fi

# --- running ----------------------------------------------------------------
run: deps-run build
	@scripts/run.sh $(TOP)/userapi

# The dev build served from the repository, rebuilt and restarted on every
# save under src/ conf/ sql/ migrations/ assets/ (scripts/dev.sh).
dev: deps-dev kodev-setup assets-vendor
	@scripts/dev.sh

db: deps-run
	@scripts/pgembed.sh start

db-stop stop:
	@scripts/pgembed.sh stop

# psql on the service's database (DATABASE_URL, else the embedded cluster)
# with the helpers of sql/inspect.sql (:users, :admins, ...) loaded after
# the user's own psqlrc.
psql: deps-run
	@mkdir -p $(BUILD)
	@rc=$${PSQLRC:-$$HOME/.psqlrc}; { \
		if [ -f "$$rc" ] && [ "$$rc" != $(BUILD)/psqlrc ]; then printf "\\i '%s'\n" "$$rc"; fi; \
		printf "\\i '%s'\n" "$(TOP)/sql/inspect.sql"; \
	} > $(BUILD)/psqlrc
	@PSQLRC=$(BUILD)/psqlrc scripts/pgembed.sh psql

# --- tests ------------------------------------------------------------------
test: deps-test sanitize
	@scripts/test.sh

unit: deps-test
	@scripts/test.sh unit

e2e: deps-test sanitize
	@scripts/test.sh e2e

# Each libFuzzer target FUZZ_SECONDS (default 60) from its seed corpus;
# `make test` runs each only a few seconds.
fuzz: deps-fuzz
	@$(MAKE) -s -C tests/fuzz run

# The Dockerfile built with podman on a base made by debootstrap, run
# against a throwaway PostgreSQL (scripts/test-image.sh; needs root).
test-image:
	@scripts/deps.sh run test image-test
	@scripts/test-image.sh

bench: deps-bench build
	@bench/run.sh $(TOP)/userapi

clean:
	rm -rf $(BUILD) .objs userapi
