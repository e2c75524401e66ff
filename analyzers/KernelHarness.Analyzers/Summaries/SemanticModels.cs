using System.Collections.Concurrent;
using Microsoft.CodeAnalysis;

namespace KernelHarness.Analyzers.Summaries;

/// <summary>
/// The one place that asks the compilation for another tree's semantic model. Summaries are computed
/// lazily from inside an operation-block action (so interprocedural findings show on the open document),
/// and a callee's body may live in another file. Under the analyzer driver the compilation's
/// SemanticModelProvider hands back the driver's cached model (dotnet/roslyn#46508), and each tree is
/// asked for once per compilation here; the model of the block being analyzed is seeded first.
/// </summary>
internal sealed class SemanticModels
{
    private readonly Compilation compilation;
    private readonly ConcurrentDictionary<SyntaxTree, SemanticModel> models = new();

    public SemanticModels(Compilation compilation) => this.compilation = compilation;

    public void Seed(SemanticModel? model)
    {
        if (model is not null && model.Compilation == compilation)
            models.TryAdd(model.SyntaxTree, model);
    }

    public SemanticModel Get(SyntaxTree tree)
    {
#pragma warning disable RS1030, RS0030 // See the type's comment: once per tree, the driver's cached model.
        return models.GetOrAdd(tree, t => compilation.GetSemanticModel(t));
#pragma warning restore RS1030, RS0030
    }
}
