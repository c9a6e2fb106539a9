#ifndef TRAFFICMANAGER_CLIBPQ_SHIM_H
#define TRAFFICMANAGER_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
