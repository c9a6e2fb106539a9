#ifndef TRAFFICMANAGER_CHIREDIS_SHIM_H
#define TRAFFICMANAGER_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
