#pragma once
/* libpng's simplified API (png_image): ROI masks and ground-truth masks are PNG, heatmap
   overlays are written as PNG. No setjmp needed: png_image reports errors in its struct. */
#include <png.h>
