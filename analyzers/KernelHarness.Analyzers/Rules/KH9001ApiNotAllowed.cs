using System.Collections.Generic;
using System.Linq;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// KH9001: any use of an API outside the assignment's allowlist. The list is the assignment's
/// (an AdditionalFile <c>*.allowlist</c>, chosen by the <c>kernelharness.allowlist</c> editorconfig option
/// when there are several; <c>include default</c> pulls in the default) or else the default list, the same
/// file the grader embeds. Names are spelled as the grader's IL check spells them (namespace.Type.Member,
/// nested types dotted, no generic arity, property accessors as get_X/set_X), and each use is checked as
/// the IL check checks a member reference: its declaring type and the member, plus every type argument.
/// What no allowlist can express (unsafe code, pointers, stackalloc, extern methods, dynamic) is refused.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ApiNotAllowedAnalyzer : KernelRuleAnalyzer
{
    /// <summary>The editorconfig / global option naming the assignment's allowlist file (or <c>default</c>).</summary>
    public const string OptionName = "kernelharness.allowlist";

    private protected override DiagnosticDescriptor Rule => Descriptors.KH9001;

    /// <summary>The operations whose symbols an allowlist governs: the uses the grader's IL check sees as member references.</summary>
    private static readonly OperationKindSet CheckedKinds = new(
        OperationKind.Invocation, OperationKind.ObjectCreation, OperationKind.PropertyReference, OperationKind.FieldReference,
        OperationKind.EventReference, OperationKind.MethodReference, OperationKind.TypeOf, OperationKind.Conversion,
        OperationKind.VariableDeclarator, OperationKind.Lock, OperationKind.DeclarationPattern, OperationKind.TypePattern,
        OperationKind.IsType, OperationKind.Binary, OperationKind.Unary, OperationKind.DefaultValue, OperationKind.ArrayCreation);

    private protected override void Register(CompilationStartAnalysisContext start, CompilationModel model)
    {
        var list = Load(start.Options, start.CancellationToken);
        var own = start.Compilation.Assembly;
        var checker = new Checker(list, own);

        RegisterFileAction(start, model, file =>
        {
            System.Action<Diagnostic> report = file.Report;
            foreach (var site in file.Operations())
                if (CheckedKinds.Contains(site.Operation.Kind) && !IsExternMethod(site.Member))
                    checker.Operation(site.Operation, report);
            // An initializer that only names a static field is kept as that use, not bound (CompilationIndex.NamedFieldsIn).
            foreach (var (field, name) in file.Model.Index.NamedFieldsIn(file.Tree))
                checker.NamedField(field, name, report);
            Checker.Unsafe(file.Tree, report, file.CancellationToken);
            // The file's declarations too, rather than from a symbol action: the driver's handling of symbol events
            // for an analyzer that asks for them cost more than the check itself.
            checker.Declarations(file.SemanticModel, report, file.CancellationToken);
        });
    }

    internal static Allowlist Load(AnalyzerOptions options, System.Threading.CancellationToken ct)
    {
        options.AnalyzerConfigOptionsProvider.GlobalOptions.TryGetValue(OptionName, out var chosen);
        if (chosen is not null && chosen.Trim() == "default")
            return Allowlist.Default;
        AdditionalText? file = null;
        foreach (var f in options.AdditionalFiles)
        {
            var name = System.IO.Path.GetFileName(f.Path);
            if (!name.EndsWith(".allowlist", System.StringComparison.OrdinalIgnoreCase))
                continue;
            if (chosen is null || name == chosen.Trim() || f.Path.EndsWith(chosen.Trim(), System.StringComparison.Ordinal))
                file = f;
        }
        var text = file?.GetText(ct);
        if (file is null || text is null)
            return Allowlist.Default;
        return Allowlist.Parse(text.ToString(), System.IO.Path.GetFileName(file.Path), out _);
    }

    /// <summary>
    /// An extern method (a P/Invoke) has no body: its operations are its attributes' (<c>[DllImport("libc")]</c>).
    /// The declaration is reported once, as native code (<see cref="Checker.Declarations"/>), not again for them.
    /// </summary>
    private static bool IsExternMethod(ISymbol member)
        => member is IMethodSymbol m && (m.IsExtern || m.GetDllImportData() is not null);

    /// <summary>
    /// The expression a member access reads from: for <c>x?.M()</c> the instance is a placeholder for <c>x</c>,
    /// the operand of the nearest conditional access whose when-not-null part holds the access.
    /// </summary>
    private static IOperation Receiver(IOperation instance)
    {
        if (Summaries.Eval.Unwrap(instance) is not IConditionalAccessInstanceOperation)
            return instance;
        var child = instance;
        for (var parent = instance.Parent; parent is not null; child = parent, parent = parent.Parent)
            if (parent is IConditionalAccessOperation access && access.WhenNotNull == child)
                return access.Operation;
        return instance;
    }

    private sealed class Checker
    {
        private readonly Allowlist list;
        private readonly IAssemblySymbol own;
        private readonly System.Collections.Concurrent.ConcurrentDictionary<ISymbol, Verdict> verdicts = new(SymbolEqualityComparer.Default);

        private sealed class Verdict
        {
            public static readonly Verdict Allowed = new(null);
            public Verdict((string Name, string Reason)? refusal) => Refusal = refusal;
            public (string Name, string Reason)? Refusal { get; }
        }

        public Checker(Allowlist list, IAssemblySymbol own)
        {
            this.list = list;
            this.own = own;
        }

        public void Operation(IOperation op, System.Action<Diagnostic> report)
        {
            // A member of a refused value reached through an expression already reported (new Random().Next(),
            // DateTime.Now.Ticks) is the same use: report the expression once.
            var instance = op switch
            {
                IInvocationOperation i => i.Instance,
                IPropertyReferenceOperation p => p.Instance,
                IFieldReferenceOperation f => f.Instance,
                _ => null,
            };
            if (instance is not null && Summaries.Eval.Unwrap(Receiver(instance)) is IObjectCreationOperation or IInvocationOperation or IPropertyReferenceOperation or IFieldReferenceOperation
                && instance.Type is not null && Why(instance.Type, null) is not null)
                return;
            string? refused = null;
            string? reason = null;
            bool Check(ISymbol? s, string? member = null)
            {
                if (refused is not null || s is null)
                    return false;
                var r = Why(s, member);
                if (r is null)
                    return false;
                (refused, reason) = r.Value;
                return true;
            }
            switch (op)
            {
                case IInvocationOperation inv:
                {
                    var m = inv.TargetMethod.ReducedFrom ?? inv.TargetMethod;
                    Check(m);
                    foreach (var t in inv.TargetMethod.TypeArguments)
                        Check(t);
                    break;
                }
                case IObjectCreationOperation oc:
                    if (oc.Constructor is not null)
                        Check(oc.Constructor);
                    else
                        Check(oc.Type);
                    break;
                case IPropertyReferenceOperation p:
                {
                    bool set = op.Parent is ISimpleAssignmentOperation sa && sa.Target == op;
                    var acc = set ? p.Property.SetMethod : p.Property.GetMethod;
                    if (acc is not null) Check(acc); else Check(p.Property);
                    break;
                }
                case IFieldReferenceOperation f:
                    if (!f.Field.IsConst)
                        Check(f.Field);
                    break;
                case IEventReferenceOperation e:
                    Check(e.Event);
                    break;
                case IMethodReferenceOperation mr:
                    Check(mr.Method.ReducedFrom ?? mr.Method);
                    break;
                case ITypeOfOperation to:
                    Check(to.TypeOperand);
                    break;
                case IConversionOperation c:
                    if (c.OperatorMethod is not null)
                        Check(c.OperatorMethod);
                    else if (!c.IsImplicit && c.Type is not null)
                        Check(c.Type);
                    break;
                case IVariableDeclaratorOperation vd:
                    // `var x = …`: the initializer is the use (and is reported).
                    if (vd.Syntax.Parent is VariableDeclarationSyntax { Type.IsVar: true } && vd.Initializer is not null)
                        break;
                    Check(vd.Symbol.Type);
                    break;
                case ILockOperation:
                    refused = "lock (System.Threading.Monitor)";
                    reason = list.Refusal("System.Threading.Monitor.Enter") ?? list.Refusal("System.Threading.Monitor");
                    if (reason is null)
                        refused = null;
                    break;
                case IDeclarationPatternOperation dp:
                    Check(dp.MatchedType);
                    break;
                case ITypePatternOperation tp:
                    Check(tp.MatchedType);
                    break;
                case IIsTypeOperation it:
                    Check(it.TypeOperand);
                    break;
                case IBinaryOperation b:
                    Check(b.OperatorMethod);
                    break;
                case IUnaryOperation u:
                    Check(u.OperatorMethod);
                    break;
                case IDefaultValueOperation dv:
                    Check(dv.Type);
                    break;
                case IArrayCreationOperation ac:
                    Check(ac.Type);
                    break;
            }
            if (refused is not null)
                report(Diagnostic.Create(Descriptors.KH9001, op.Syntax.GetLocation(), refused, reason));
        }

        /// <summary>A use of a static field by name alone, as a field reference operation would be checked.</summary>
        public void NamedField(IFieldSymbol field, SyntaxNode name, System.Action<Diagnostic> report)
        {
            if (!field.IsConst && Why(field, null) is { } r)
                report(Diagnostic.Create(Descriptors.KH9001, name.GetLocation(), r.Name, r.Reason));
        }

        /// <summary>
        /// Checks what the file declares: each type, and each member of a type (a method, field, property or event)
        /// whose first declaration is in the file, as the driver's symbol actions would see them: the parts of a
        /// partial type in their own files, the implementation of a partial method or property where it is written.
        /// </summary>
        public void Declarations(SemanticModel model, System.Action<Diagnostic> report, System.Threading.CancellationToken ct)
            => TypesIn(model.SyntaxTree.GetRoot(ct), model, report, ct);

        /// <summary>The types declared in a compilation unit, namespace or type (a hand walk over the containers only).</summary>
        private void TypesIn(SyntaxNode container, SemanticModel model, System.Action<Diagnostic> report, System.Threading.CancellationToken ct)
        {
            foreach (var child in container.ChildNodesAndTokens())
            {
                if (!child.IsNode)
                    continue;
                var node = child.AsNode()!;
                if (node is BaseTypeDeclarationSyntax or DelegateDeclarationSyntax)
                    TypeDeclared(node, model, report, ct);
                if (node is BaseNamespaceDeclarationSyntax or TypeDeclarationSyntax)
                    TypesIn(node, model, report, ct);
            }
        }

        /// <summary>Checks a type declared by <paramref name="node"/> and the members declared in that part of it.</summary>
        private void TypeDeclared(SyntaxNode node, SemanticModel model, System.Action<Diagnostic> report, System.Threading.CancellationToken ct)
        {
            if (model.GetDeclaredSymbol(node, ct) is not INamedTypeSymbol type)
                return;
            // A type written in one part declares all its members there (a symbol's locations are made anew
            // each time they are asked: only the parts of a partial type need them).
            bool onePart = type.DeclaringSyntaxReferences.Length == 1;
            if (onePart || DeclaredIn(type, node))
                Declared(type, report);
            foreach (var member in type.GetMembers())
            {
                if (member.Kind is not (SymbolKind.Method or SymbolKind.Field or SymbolKind.Property or SymbolKind.Event))
                    continue;
                if (onePart || DeclaredIn(member, node))
                    Declared(member, report);
                var implementation = member switch
                {
                    IMethodSymbol m => m.PartialImplementationPart,
                    IPropertySymbol p => (ISymbol?)p.PartialImplementationPart,
                    _ => null,
                };
                if (implementation is not null && (onePart || DeclaredIn(implementation, node)))
                    Declared(implementation, report);
            }
        }

        /// <summary>Is the symbol's first declaration in this part of a type (nested types have parts of their own)?</summary>
        private static bool DeclaredIn(ISymbol symbol, SyntaxNode part)
        {
            var locations = symbol.Locations;
            return locations.Length > 0 && locations[0].SourceTree == part.SyntaxTree && part.Span.Contains(locations[0].SourceSpan);
        }

        private void Declared(ISymbol s, System.Action<Diagnostic> report)
        {
            // Asked for every declaration of the compilation, nearly all of them allowed: the types are looked at
            // one by one, and the location made only for a finding.
            if (s.IsImplicitlyDeclared)
                return;
            var refused = s switch
            {
                INamedTypeSymbol t => t.TypeKind == TypeKind.Delegate ? null : WhyAny(t.BaseType, t.Interfaces),
                IMethodSymbol { MethodKind: MethodKind.PropertyGet or MethodKind.PropertySet or MethodKind.EventAdd or MethodKind.EventRemove } => null,
                IMethodSymbol m when m.IsExtern || m.GetDllImportData() is not null => ("extern method " + m.Name, "native code is never allowed"),
                IMethodSymbol m => WhyAny(m.ReturnType, m.Parameters),
                IFieldSymbol f => Why(f.Type, null),
                IPropertySymbol p => WhyAny(p.Type, p.Parameters),
                IEventSymbol e => Why(e.Type, null),
                _ => null,
            };
            if (refused is null)
            {
                foreach (var a in s.GetAttributes())
                {
                    if (a.AttributeClass is { } attribute && Why(attribute, null) is { } r)
                    {
                        refused = r;
                        break;
                    }
                }
            }
            if (refused is { } found)
                report(Diagnostic.Create(Descriptors.KH9001, s.Locations.FirstOrDefault() ?? Location.None, found.Name, found.Reason));
        }

        private (string Name, string Reason)? WhyAny(ITypeSymbol? first, System.Collections.Immutable.ImmutableArray<INamedTypeSymbol> rest)
        {
            if (first is not null && Why(first, null) is { } r)
                return r;
            foreach (var t in rest)
                if (Why(t, null) is { } r2)
                    return r2;
            return null;
        }

        private (string Name, string Reason)? WhyAny(ITypeSymbol first, System.Collections.Immutable.ImmutableArray<IParameterSymbol> parameters)
        {
            if (Why(first, null) is { } r)
                return r;
            foreach (var p in parameters)
                if (Why(p.Type, null) is { } r2)
                    return r2;
            return null;
        }

        /// <summary>
        /// Unsafe code, pointers, fixed and stackalloc. Pointer and function-pointer types compile only in an
        /// unsafe context, which the file itself must spell out, and the other two are keywords: a file without
        /// any of the three words is skipped without walking its syntax (a syntax-node action would make the
        /// driver walk every file's nodes).
        /// </summary>
        public static void Unsafe(SyntaxTree tree, System.Action<Diagnostic> report, System.Threading.CancellationToken cancellationToken)
        {
            var text = tree.GetText(cancellationToken).ToString();
            if (text.IndexOf("unsafe", System.StringComparison.Ordinal) < 0 && text.IndexOf("stackalloc", System.StringComparison.Ordinal) < 0
                && text.IndexOf("fixed", System.StringComparison.Ordinal) < 0)
                return;
            foreach (var node in tree.GetRoot(cancellationToken).DescendantNodes())
            {
                string? what = node.Kind() switch
                {
                    SyntaxKind.UnsafeStatement => "unsafe code",
                    SyntaxKind.FixedStatement => "fixed (pinned pointers)",
                    SyntaxKind.StackAllocArrayCreationExpression or SyntaxKind.ImplicitStackAllocArrayCreationExpression => "stackalloc (IL localloc)",
                    SyntaxKind.PointerType or SyntaxKind.FunctionPointerType => "pointer type (unsafe code)",
                    _ => null,
                };
                if (what is null)
                    continue;
                // One finding per construct: a pointer type inside an unsafe block or fixed statement is the same use.
                if (node is PointerTypeSyntax or FunctionPointerTypeSyntax && node.Ancestors().Any(a => a is UnsafeStatementSyntax or FixedStatementSyntax or PointerTypeSyntax))
                    continue;
                report(Diagnostic.Create(Descriptors.KH9001, node.GetLocation(), what, "unsafe code is never allowed"));
            }
        }

        /// <summary>The first refused name a use of <paramref name="s"/> involves, with the reason; null when allowed (cached per symbol).</summary>
        private (string Name, string Reason)? Why(ISymbol s, string? member)
        {
            if (member is not null)
                return WhyCore(s, member);
            // Most uses are of the submission's own members and types, which no list governs: answered without
            // the cache, which would otherwise hold an entry for every field and method of the compilation.
            if (IsOwnWithoutTypeArguments(s))
                return null;
            if (verdicts.TryGetValue(s, out var v))
                return v.Refusal;
            var r = WhyCore(s, null);
            verdicts.TryAdd(s, r is null ? Verdict.Allowed : new Verdict(r));
            return r;
        }

        private (string Name, string Reason)? WhyCore(ISymbol s, string? member)
        {
            switch (s)
            {
                case IArrayTypeSymbol a:
                    return Why(a.ElementType, null);
                case IPointerTypeSymbol:
                case IFunctionPointerTypeSymbol:
                    return ("pointer type (unsafe code)", "unsafe code is never allowed");
                case IDynamicTypeSymbol:
                    return ("dynamic (Microsoft.CSharp.RuntimeBinder)", list.Refusal("Microsoft.CSharp.RuntimeBinder") ?? "no allowlist rule permits it");
                case ITypeParameterSymbol:
                case IErrorTypeSymbol:
                    return null;
                case INamedTypeSymbol t:
                {
                    if (t.IsTupleType && t.TupleUnderlyingType is { } under && !SymbolEqualityComparer.Default.Equals(under, t))
                        return Why(under, null);
                    if (!IsOwn(t))
                    {
                        var name = TypeName(t);
                        var r = list.Refusal(name);
                        if (r is not null)
                            return (name, r);
                    }
                    foreach (var arg in t.TypeArguments)
                    {
                        var r = Why(arg, null);
                        if (r is not null)
                            return r;
                    }
                    if (t.ContainingType is { } outer && !IsOwn(outer))
                        foreach (var arg in outer.TypeArguments)
                        {
                            var r = Why(arg, null);
                            if (r is not null)
                                return r;
                        }
                    return null;
                }
                case IMethodSymbol or IFieldSymbol or IPropertySymbol or IEventSymbol:
                {
                    // Decided by the member's full name (a rule on the type covers its members; a rule on the
                    // member is more specific), plus every type argument of its type.
                    var type = s.ContainingType;
                    if (type is null || IsOwn(type))
                        return null;
                    for (var t = type; t is not null; t = t.ContainingType)
                        foreach (var arg in t.TypeArguments)
                        {
                            var r = Why(arg, null);
                            if (r is not null)
                                return r;
                        }
                    var full = TypeName(type) + "." + (member ?? s.MetadataName);
                    var why = list.Refusal(full);
                    if (why is not null)
                        return (full, why);
                    if (s is IMethodSymbol m)
                        foreach (var p in m.Parameters)
                            if (p.Type is IPointerTypeSymbol or IFunctionPointerTypeSymbol)
                                return ("pointer type (unsafe code)", "unsafe code is never allowed");
                    return null;
                }
            }
            return null;
        }

        private bool IsOwn(ITypeSymbol t) => SymbolEqualityComparer.Default.Equals(t.ContainingAssembly, own);

        /// <summary>A member of one of the compilation's own types, or such a type when it has no type arguments: always allowed (see <see cref="WhyCore"/>).</summary>
        private bool IsOwnWithoutTypeArguments(ISymbol s) => s switch
        {
            IMethodSymbol or IFieldSymbol or IPropertySymbol or IEventSymbol => s.ContainingType is { } type && IsOwn(type),
            INamedTypeSymbol { IsGenericType: false, IsTupleType: false } t => IsOwn(t),
            _ => false,
        };

        /// <summary>The dotted name the IL check uses: namespace.Outer.Inner, no generic arity.</summary>
        internal static string TypeName(INamedTypeSymbol t)
        {
            t = t.OriginalDefinition;
            if (t.ContainingType is not null)
                return TypeName(t.ContainingType) + "." + t.Name;
            var ns = t.ContainingNamespace;
            return ns is null || ns.IsGlobalNamespace ? t.Name : ns.ToDisplayString() + "." + t.Name;
        }
    }
}
