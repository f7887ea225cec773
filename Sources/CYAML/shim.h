// libyaml 0.2 for Swift: the public header imports as is.
#ifndef CYAML_SHIM_H
#define CYAML_SHIM_H
#include <yaml.h>
#endif
