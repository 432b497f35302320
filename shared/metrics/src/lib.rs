//! Ranking metrics (ROEM, precision, recall, MAP, NDCG, AUC, coverage) computed from factors, blockwise.
