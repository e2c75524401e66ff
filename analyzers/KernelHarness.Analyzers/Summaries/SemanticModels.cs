using System.Collections.Concurrent;
using Microsoft.CodeAnalysis;

namespace KernelHarness.Analyzers.Summaries;

/// <summary>
/// The one place that asks the compilation for semantic models: one per file per compilation, shared by
/// every KH rule. A rule analysing one file needs code of other files (a callee's body, the registration
/// of a handler), so it cannot make do with its own action's model. Under the analyzer driver the
/// compilation's SemanticModelProvider hands back the driver's cached model (dotnet/roslyn#46508), into
/// which the compiler puts each method body it has bound while compiling: asking for those bodies' operations
/// binds nothing again. No rule asks the driver for operation blocks either, which would walk every body.
/// </summary>
internal sealed class SemanticModels
{
    private readonly Compilation compilation;
    private readonly ConcurrentDictionary<SyntaxTree, SemanticModel> models = new();

    public SemanticModels(Compilation compilation) => this.compilation = compilation;

    public SemanticModel Get(SyntaxTree tree)
    {
#pragma warning disable RS1030, RS0030 // See the type's comment: once per file, the driver's cached model.
        return models.TryGetValue(tree, out var known) ? known : models.GetOrAdd(tree, t => compilation.GetSemanticModel(t));
#pragma warning restore RS1030, RS0030
    }

    /// <summary>Forgets a file's model, and with it the bodies bound in it (<see cref="CompilationIndex.Release"/>).</summary>
    public void Release(SyntaxTree tree) => models.TryRemove(tree, out _);
}
