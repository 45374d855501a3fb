// Signature helpers for the functions generated from elementwise.def: a unary op with n parameters
// takes them as n trailing doubles (a, b), which become its UnaryParams.
#pragma once

#define FG_EW_PARAMS_0
#define FG_EW_PARAMS_1 , double a
#define FG_EW_PARAMS_2 , double a, double b
#define FG_EW_ARGS_0 ::fg::UnaryParams{}
#define FG_EW_ARGS_1 ::fg::UnaryParams{a, 0}
#define FG_EW_ARGS_2 ::fg::UnaryParams{a, b}
