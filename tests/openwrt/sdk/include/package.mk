# Stand-in for the OpenWrt SDK's include/package.mk (tests/openwrt/check.sh).
# Like the real one it evaluates Package/NAME and builds the recipes of its
# targets with $(eval), so Build/* hooks are expanded twice, as in the SDK.
# Its targets are the test's: prepare, compile, install-pkg (DESTDIR=),
# conffiles and info.
PKG_BUILD_DIR ?= $(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
PKG_INSTALL_DIR ?= $(PKG_BUILD_DIR)/ipkg-install

define Build/Targets
  prepare:
	rm -rf $(PKG_BUILD_DIR)
	mkdir -p $(PKG_BUILD_DIR)
	$(Build/Prepare)

  compile:
	$(Build/Compile)

  install-pkg:
	$(call Package/$(1)/install,$$(DESTDIR))

  conffiles:
	@printf '%s\n' $(strip $(Package/$(1)/conffiles))

  info:
	@echo 'PKG_VERSION=$(PKG_VERSION)'
	@echo 'PKG_BUILD_DIR=$(PKG_BUILD_DIR)'
	@echo 'PKG_BUILD_DEPENDS=$(PKG_BUILD_DEPENDS)'
	@echo 'DEPENDS=$(DEPENDS)'
	@echo 'USERID=$(USERID)'
	@echo 'SECTION=$(SECTION)'
endef

define BuildPackage
  $(eval $(Package/$(1)))
  $(eval $(call Build/Targets,$(1)))
endef
