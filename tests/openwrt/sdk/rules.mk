# Stand-in for the OpenWrt SDK's rules.mk (tests/openwrt/check.sh): the
# variables cross/openwrt/Makefile uses, with the SDK's values. TOPDIR,
# ARCH and CONFIG_ARCH_64BIT come from the command line.
INCLUDE_DIR := $(TOPDIR)/include
BUILD_DIR := $(TOPDIR)/build_dir
DL_DIR := $(TOPDIR)/dl
INSTALL_DIR := install -d -m0755
INSTALL_BIN := install -m0755
INSTALL_DATA := install -m0644
INSTALL_CONF := install -m0600
CP := cp -fpR
