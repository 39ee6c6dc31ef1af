/**
 * Stores a suite's results with Mastra's datasets and experiments, in the system's own
 * storage, so Mastra Studio lists them (Datasets → evals-<suite> → Experiments). The
 * cases become dataset items (keyed by case id); each eval run of a suite against a model
 * is one target-less experiment whose per-item results carry our scores.
 *
 * In-process runs use a fresh data dir by default, which is removed at the end; pass
 * --data-dir .data to keep them where `npm run dev` (Studio) looks.
 */
import type { Mastra } from '@mastra/core';
import type { SuiteResult } from './results';
import type { Suite } from './suite';

export async function storeInStudio(mastra: Mastra, suite: Suite, result: SuiteResult, runId: string): Promise<NonNullable<SuiteResult['studio']>> {
  const datasetId = `evals-${suite.name}`;
  try {
    const manager = mastra.datasets;
    const dataset = await manager.get({ id: datasetId }).catch(async () =>
      manager.create({ id: datasetId, name: datasetId, description: suite.description, targetType: 'agent', targetIds: [suite.agent], metadata: { source: suite.file } }),
    );
    const listed = (await dataset.listItems({ page: 0, perPage: 1000 })) as { items: Array<{ id: string; externalId?: string | null }> };
    const itemIds = new Map<string, string>();
    for (const it of listed.items) if (it.externalId) itemIds.set(it.externalId, it.id);
    for (const c of suite.cases) {
      if (itemIds.has(c.id)) continue;
      const item = await dataset.addItem({ externalId: c.id, input: { history: c.history, input: c.input }, groundTruth: c.expect, metadata: { description: c.description, tags: c.tags } });
      itemIds.set(c.id, item.id);
    }
    const exp = await dataset.createExperiment({
      name: `${suite.name} · ${result.model} · ${runId}`,
      description: `npm run evals (${result.passed ? 'passed' : 'failed'})`,
      metadata: { runId, model: result.model, passed: result.passed, problems: result.problems },
    });
    for (const c of result.cases) {
      const itemId = itemIds.get(c.id);
      if (!itemId) continue;
      await dataset.submitExperimentResult({
        experimentId: exp.experimentId,
        itemId,
        output: { reply: c.reply, toolCalls: c.toolCalls, status: c.status },
        error: c.status === 'error' || c.status === 'stale' || c.status === 'invalid' ? { message: c.reason ?? c.status, code: c.status } : null,
        scores: Object.entries(c.scores)
          .filter(([, s]) => s.score !== undefined)
          .map(([id, s]) => ({ scorerId: id, scorerName: id, score: s.score!, reason: s.reason })),
      });
    }
    await dataset.finalizeExperiment({ experimentId: exp.experimentId });
    return { stored: true, detail: `dataset ${datasetId}, experiment ${exp.experimentId}`, datasetId, experimentId: exp.experimentId };
  } catch (err) {
    return { stored: false, detail: `not stored in Mastra datasets/experiments: ${(err as Error).message}` };
  }
}
