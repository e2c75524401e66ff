using System.Collections.Generic;
using System.Collections.Immutable;
using KernelHarness.Analyzers.ContextEngine;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// The opening lines every KH analyzer shares: concurrent, generated code skipped, the kernel symbols
/// resolved once per compilation, nothing registered when the compilation does not reference the kernel
/// API. Each rule then analyses a file at a time (<see cref="AnalyzeFile"/>) from a semantic-model action,
/// on the shared per-compilation model: the IDE runs it for the open document as the student types, and
/// interprocedural findings (a callee in another file) show there too. No rule registers operation
/// actions: the model reads bodies on demand through the driver's semantic models (see <see cref="CompilationIndex"/>).
/// </summary>
public abstract class KernelRuleAnalyzer : DiagnosticAnalyzer
{
    private protected abstract DiagnosticDescriptor Rule { get; }

    public sealed override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);

    public sealed override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        // No callbacks for generated code; the findings are sifted by FileContext.Report, not by the driver
        // (see GeneratedCode).
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.ReportDiagnostics);
        context.RegisterCompilationStartAction(start =>
        {
            var model = CompilationModel.Get(start.Compilation);
            if (model is null)
                return;
            Register(start, model);
        });
    }

    private protected virtual void Register(CompilationStartAnalysisContext start, CompilationModel model)
        => RegisterFileAction(start, model, AnalyzeFile);

    /// <summary>
    /// Registers the rule's per-file analysis. Each rule analyses every file once, and tells the shared model
    /// when it is done, so that the model can let go of a file's bound code once every rule is.
    /// </summary>
    private protected static void RegisterFileAction(CompilationStartAnalysisContext start, CompilationModel model, System.Action<FileContext> analyze)
    {
        model.AddFileRule();
        start.RegisterSemanticModelAction(ctx =>
        {
            try
            {
                StackRoom.Enter();
                analyze(new FileContext(model, ctx));
            }
            finally
            {
                model.FileAnalysed(ctx.SemanticModel.SyntaxTree);
            }
        });
    }

    /// <summary>Reports this rule's findings in one file. By default: the context engine's findings of the file's methods.</summary>
    private protected virtual void AnalyzeFile(FileContext file)
        => ReportOwn(file, file.Model.FindingsIn(file.Tree));

    /// <summary>Reports this rule's findings among those an engine made in the file.</summary>
    private protected void ReportOwn(FileContext file, List<Finding> findings)
    {
        foreach (var finding in findings)
            if (finding.Id == Rule.Id)
                file.Report(finding.ToDiagnostic(Rule));
    }

    /// <summary>One file of the compilation, as a rule sees it.</summary>
    private protected readonly struct FileContext
    {
        private readonly SemanticModelAnalysisContext context;

        public FileContext(CompilationModel model, SemanticModelAnalysisContext context)
        {
            Model = model;
            this.context = context;
        }

        public CompilationModel Model { get; }

        public KernelSymbols Symbols => Model.Symbols;

        public SyntaxTree Tree => context.SemanticModel.SyntaxTree;

        /// <summary>The driver's semantic model of this file.</summary>
        public SemanticModel SemanticModel => context.SemanticModel;

        public System.Threading.CancellationToken CancellationToken => context.CancellationToken;

        /// <summary>The methods, lambdas and local functions whose bodies lie in this file.</summary>
        public List<IMethodSymbol> Methods => Model.Index.MethodsIn(Tree); // (a list: enumerated without boxing)

        /// <summary>This file's operations of one kind, each with the member whose body holds it.</summary>
        public FileOperations Operations(OperationKind kind) => Model.Index.OperationsIn(Tree, kind);

        /// <summary>This file's operations of every kind a rule reads by kind, each with the member whose body holds it.</summary>
        public FileOperations Operations() => Model.Index.OperationsIn(Tree);

        /// <summary>
        /// Reports a diagnostic located in this file (others belong to their own file's pass), unless it lies in a
        /// type or member marked [GeneratedCode].
        /// </summary>
        public void Report(Diagnostic diagnostic)
        {
            if (diagnostic.Location.SourceTree == Tree && !GeneratedCode.Contains(context.SemanticModel, diagnostic.Location, context.CancellationToken))
                context.ReportDiagnostic(diagnostic);
        }
    }
}
