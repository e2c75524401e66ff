using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using KernelHarness.Analyzers.ContextEngine;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;
using Microsoft.CodeAnalysis.Text;

namespace KernelHarness.Analyzers.Summaries;

/// <summary>Where an entry context comes from: a registration (request_irq handler, tasklet, work…) or an attribute.</summary>
internal sealed class ContextOrigin : System.IEquatable<ContextOrigin>
{
    // A registration keeps the call and the pieces of its words: most registrations are never part of a
    // finding, and their words (with file and line) and location are made only when one is.
    private readonly SyntaxNode? call;
    private readonly IMethodSymbol? target;
    private readonly string? what;
    private readonly string? api;
    private string? description;
    private Location? location;

    /// <summary>A context a function declares itself (an attribute at <paramref name="location"/>).</summary>
    public ContextOrigin(Ctx context, string description, Location location)
    {
        Context = context;
        this.description = description;
        this.location = location;
    }

    /// <summary>A registration: <paramref name="target"/> is passed as <paramref name="what"/> to <paramref name="api"/> at <paramref name="call"/>.</summary>
    public ContextOrigin(Ctx context, IMethodSymbol target, string what, string api, SyntaxNode call)
    {
        Context = context;
        IsRegistration = true;
        this.target = target;
        this.what = what;
        this.api = api;
        this.call = call;
    }

    public Ctx Context { get; }

    public bool IsRegistration { get; }

    public string Description => description ??= Describe();

    public Location Location => location ??= call!.GetLocation();

    /// <summary>The file and position of the registering call or the attribute: the order reports are made in.</summary>
    public string? FilePath => call is not null ? call.SyntaxTree.FilePath : location!.SourceTree?.FilePath;

    public int Position => call?.SpanStart ?? location!.SourceSpan.Start;

    private string Describe()
    {
        var ctxWords = Context switch
        {
            Ctx.HardIrq => "hard-IRQ context",
            Ctx.SoftIrq => "softirq context",
            _ => "process context",
        };
        var name = target!.MethodKind == MethodKind.AnonymousFunction ? "the lambda" : target.Name + "()";
        return $"{name} runs in {ctxWords} ({what} passed to {api}() at {Kinds.Where(Location)})";
    }

    public bool Equals(ContextOrigin? other)
        => other is not null && Context == other.Context && IsRegistration == other.IsRegistration
           && (IsRegistration
               ? call == other.call && SymbolEqualityComparer.Default.Equals(target, other.target) && what == other.what && api == other.api
               : description == other.description && Location.Equals(other.Location));

    public override bool Equals(object? obj) => Equals(obj as ContextOrigin);

    public override int GetHashCode() => ((int)Context * 31 + Position) * 31 + (IsRegistration ? what!.GetHashCode() : description!.GetHashCode());
}

/// <summary>
/// A call in the compilation: who calls, and the call's syntax. Syntax, not the operation: the index keeps
/// call edges after it has let go of the file's operations (<see cref="CompilationIndex.Release"/>).
/// </summary>
internal sealed record CallEdge(IMethodSymbol Caller, SyntaxNode Call);

/// <summary>
/// A file's operations of one kind, or of every kind the index keeps, each with the member whose code holds it,
/// in source order. Every rule walks every file's: enumerated without allocating.
/// </summary>
internal readonly struct FileOperations
{
    private readonly List<DeclarationScan> scans;
    private readonly OperationKind? kind;

    public FileOperations(List<DeclarationScan> scans, OperationKind? kind)
    {
        this.scans = scans;
        this.kind = kind;
    }

    public Enumerator GetEnumerator() => new(scans, kind);

    public struct Enumerator
    {
        private readonly List<DeclarationScan> scans;
        private readonly OperationKind? kind;
        private int scan;
        private int site;

        public Enumerator(List<DeclarationScan> scans, OperationKind? kind)
        {
            this.scans = scans;
            this.kind = kind;
            scan = 0;
            site = -1;
        }

        public OperationSite Current => new(scans[scan].Sites[site], scans[scan].Member!);

        public bool MoveNext()
        {
            for (; scan < scans.Count; scan++, site = -1)
            {
                var sites = scans[scan].Sites;
                while (++site < sites.Length)
                    if (kind is null || sites[site].Kind == kind)
                        return true;
            }
            return false;
        }
    }
}

/// <summary>An operation of a body in the compilation, with the member whose body holds it (as the driver's ContainingSymbol).</summary>
internal readonly struct OperationSite
{
    public OperationSite(IOperation operation, ISymbol member)
    {
        Operation = operation;
        Member = member;
    }

    public IOperation Operation { get; }
    public ISymbol Member { get; }
}

/// <summary>
/// What the rules need to know about the compilation's code beyond one method, found on demand:
/// the bodies of methods, lambdas and local functions; who calls whom; which methods are registered as
/// callbacks (and in which context), following method groups, lambdas and delegates stored in fields or
/// locals; which methods escape as delegates to unknown callers; each file's methods and operations.
/// <para>
/// Nothing is bound up front. A question about method <c>m</c> (its callers, whether it escapes) binds only the
/// declarations that mention <c>m</c>'s name, found from syntax and text alone (<see cref="FileDeclarations"/>),
/// and a file's findings bind that file. The semantic models
/// are the driver's (<see cref="SemanticModels"/>), which the compiler has usually filled with the bodies
/// it bound already, so under a build most of this costs no binding at all.
/// </para>
/// </summary>
internal sealed class CompilationIndex
{
    private readonly KernelSymbols k;
    private readonly SemanticModels models;
    private readonly ConcurrentDictionary<SyntaxNode, DeclarationScan> scans;
    private readonly ConcurrentDictionary<SyntaxTree, FileDeclarations> files = new();
    private readonly ConcurrentDictionary<IMethodSymbol, IReadOnlyList<CallEdge>> callers;
    private readonly ConcurrentDictionary<string, System.Lazy<Few<SyntaxNode>>> mentioners = new(System.StringComparer.Ordinal);
    private Dictionary<string, List<SyntaxTree>>? filesByName;
    private readonly ConcurrentDictionary<DeclarationScan, List<(IMethodSymbol Target, ContextOrigin Origin)>> resolved = new();
    private readonly ConcurrentDictionary<IMethodSymbol, bool> forwarders = new(SymbolEqualityComparer.Default);
    private readonly ConcurrentDictionary<IMethodSymbol, DeclarationScan?> scanOf;
    private readonly ConcurrentDictionary<INamedTypeSymbol, ImmutableArray<SyntaxReference>> typeParts = new(SymbolEqualityComparer.Default);

    public CompilationIndex(KernelSymbols k, SemanticModels models)
    {
        this.k = k;
        this.models = models;
        scans = k.DeclarationCache<SyntaxNode, DeclarationScan>();
        callers = new(SymbolEqualityComparer.Default); // asked of the few functions whose context is traced through callers
        scanOf = k.FunctionCache<IMethodSymbol, DeclarationScan?>();
    }

    // ------------------------------------------------------------------ declarations (syntax only)

    private FileDeclarations DeclarationsOf(SyntaxTree tree) => files.GetOrAdd(tree, static t => FileDeclarations.Of(t));

    /// <summary>
    /// The declarations that mention <paramref name="name"/> anywhere in the compilation, in file order: found once
    /// per name (<see cref="FileDeclarations.FindMentions"/>). A compilation is asked about a few public names (its
    /// public functions and fields): each is looked for in every file's text. Past
    /// <see cref="NamesSearchedEverywhere"/> names, the files that hold each identifier are listed once, by a walk
    /// of every file's tokens, and a name is looked for only in its files: the cost stays linear in the
    /// compilation however many names it is asked about.
    /// </summary>
    private Few<SyntaxNode> MentionersOf(string name)
    {
        // Files are analysed in parallel and the first of them ask about the same public names at once: one thread
        // searches, the others wait for its answer instead of searching every file too.
        if (!mentioners.TryGetValue(name, out var known))
            known = mentioners.GetOrAdd(name, n => new System.Lazy<Few<SyntaxNode>>(() => SearchEveryFile(n)));
        return known.Value;
    }

    private Few<SyntaxNode> SearchEveryFile(string name)
    {
        var found = default(Few<SyntaxNode>);
        foreach (var tree in FilesThatMayMention(name))
            DeclarationsOf(tree).FindMentions(name, span: null, ref found);
        return found;
    }

    internal const int NamesSearchedEverywhere = 64;

    private IEnumerable<SyntaxTree> FilesThatMayMention(string name)
    {
        if (mentioners.Count < NamesSearchedEverywhere)
            return k.Compilation.SyntaxTrees;
        if (Volatile.Read(ref filesByName) is null)
            Interlocked.CompareExchange(ref filesByName, ListFilesByName(), null);
        return filesByName!.TryGetValue(name, out var holders) ? holders : System.Array.Empty<SyntaxTree>();
    }

    /// <summary>Which files hold each identifier (a file's tree, not its declarations: those are let go of with the file).</summary>
    private Dictionary<string, List<SyntaxTree>> ListFilesByName()
    {
        var byName = new Dictionary<string, List<SyntaxTree>>(System.StringComparer.Ordinal);
        foreach (var tree in k.Compilation.SyntaxTrees)
        {
            foreach (var token in tree.GetRoot().DescendantTokens())
            {
                if (!token.IsKind(SyntaxKind.IdentifierToken))
                    continue;
                if (!byName.TryGetValue(token.ValueText, out var holders))
                    byName[token.ValueText] = holders = new List<SyntaxTree>(1);
                if (holders.Count == 0 || !ReferenceEquals(holders[holders.Count - 1], tree))
                    holders.Add(tree);
            }
        }
        return byName;
    }

    /// <summary>
    /// The declarations that may use <paramref name="symbol"/>: those mentioning its name, and, for a private
    /// member, a parameter or a local, only inside its containing type. (Enumerated without allocating: asked
    /// several times for every function of the compilation; each is scanned by <see cref="Scan"/>.)
    /// </summary>
    private Few<SyntaxNode> MentionersOf(ISymbol symbol)
    {
        var type = symbol is ILocalSymbol or IParameterSymbol || symbol.DeclaredAccessibility == Accessibility.Private ? symbol.ContainingType : null;
        var parts = type is null ? ImmutableArray<SyntaxReference>.Empty : PartsOf(type);
        if (parts.IsEmpty)
            return MentionersOf(symbol.Name);
        var found = default(Few<SyntaxNode>);
        foreach (var part in parts)
            if (k.Compilation.ContainsSyntaxTree(part.SyntaxTree))
                DeclarationsOf(part.SyntaxTree).FindMentions(symbol.Name, part.Span, ref found);
        return found;
    }

    /// <summary>A type's declarations (a symbol makes the array anew each time it is asked).</summary>
    private ImmutableArray<SyntaxReference> PartsOf(INamedTypeSymbol type)
        => typeParts.TryGetValue(type, out var known) ? known : typeParts.GetOrAdd(type, type.DeclaringSyntaxReferences);

    // ------------------------------------------------------------------ scans (bound on demand)

    private DeclarationScan Scan(SyntaxNode declaration)
    {
        // Asked for every body a rule looks at: a hit allocates nothing. A scan is made empty and filled once,
        // by the first thread to ask for it (the others wait for it): one object per declaration, no Lazy.
        if (!scans.TryGetValue(declaration, out var scan))
            scan = scans.GetOrAdd(declaration, new DeclarationScan(k, declaration));
        scan.EnsureFilled(this);
        return scan;
    }

    /// <summary>
    /// Nesting (statements, and lambdas or local functions counted twice) beyond which a body is not bound.
    /// Roslyn's operation factory behind <c>GetOperation</c> recurses at every nested statement or lambda with no
    /// stack guard: on a 1 MB thread (Visual Studio's thread pool) it overflows at about 400 nested <c>if</c> blocks
    /// or 200 nested lambdas, and a stack overflow cannot be caught: it would take the compiler, the grader's build
    /// or the IDE's analyzer host down, on code the compiler itself compiles. Kernel code nests a handful of levels;
    /// a chain of <c>else if</c> is one level (the factory walks it in a loop).
    /// </summary>
    internal const int MaxNesting = 128;

    /// <summary>
    /// Depth of syntax (every node one level) beyond which a body is not bound either. Roslyn compiles a long chain of
    /// binary operators (<c>a + b + … </c>, generated tables, string concatenations) or of <c>else if</c> without
    /// recursing, and turns it into operations; the rules' walks over those operations recurse at each one, and
    /// on a 1 MB thread overflowed at about 6,000 levels (a 20,000-term sum, a 20,000-arm <c>else if</c> chain).
    /// </summary>
    internal const int MaxDepth = 2000;

    /// <summary>
    /// Does the declaration's code nest deeper than <see cref="MaxNesting"/> statements or <see cref="MaxDepth"/> syntax
    /// levels? (An explicit stack: this must not overflow either.)
    /// </summary>
    internal static bool NestsTooDeep(SyntaxNode declaration)
    {
        // Asked of every body: most are told apart by their text alone. Every level but the innermost statement is
        // written with a '{', a '(' (a bare `if (…)`, `while (…)`) or a ':' (a label), and a lambda's two with a
        // "=>": a body with fewer marks than the limit cannot nest deeper than it. Every syntax level holds a token
        // of its own or sits in one that does (an argument in its list's parentheses): a body of fewer than
        // MaxDepth / 2 tokens cannot be deeper than MaxDepth.
        var (marks, tokens) = NestingMarks(declaration);
        if (marks < MaxNesting && tokens < MaxDepth / 2)
            return false;
        var pending = new Stack<(SyntaxNode Node, int Nesting, int Depth)>();
        pending.Push((declaration, 0, 0));
        while (pending.Count > 0)
        {
            var (node, nesting, depth) = pending.Pop();
            foreach (var item in node.ChildNodesAndTokens())
            {
                if (item.AsNode() is not { } child)
                    continue;
                int n = nesting + child switch
                {
                    AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax => 2,
                    IfStatementSyntax { Parent: ElseClauseSyntax } => 0,
                    StatementSyntax => 1,
                    _ => 0,
                };
                if (n > MaxNesting || depth + 1 > MaxDepth)
                    return true;
                pending.Push((child, n, depth + 1));
            }
        }
        return false;
    }

    /// <summary>
    /// The body's nesting marks (see <see cref="NestsTooDeep"/>) and an upper bound on its tokens: each punctuation
    /// character and each start of a word (comments and strings count too: a bound, not a count).
    /// </summary>
    private static (int Marks, int Tokens) NestingMarks(SyntaxNode declaration)
    {
        var text = declaration.SyntaxTree.GetText();
        int marks = 0, tokens = 0;
        bool inWord = false;
        for (int i = declaration.Span.Start, end = declaration.Span.End; i < end; i++)
        {
            char c = text[i];
            bool wordChar = char.IsLetterOrDigit(c) || c == '_';
            if (wordChar)
            {
                if (!inWord)
                    tokens++;
            }
            else if (!char.IsWhiteSpace(c))
            {
                tokens++;
                if (c is '{' or '(' or ':')
                    marks++;
                else if (c == '>' && i > 0 && text[i - 1] == '=')
                    marks += 2;
            }
            inWord = wordChar;
        }
        return (marks, tokens);
    }

    /// <summary>Binds the declaration's code and records it in <paramref name="scan"/> (see <see cref="DeclarationScan.EnsureFilled"/>).</summary>
    internal void Fill(DeclarationScan scan)
    {
        var node = scan.Declaration;
        var model = models.Get(node.SyntaxTree);
        if (NamedStaticValue(model, node) is { } named)
        {
            scan.NameField(named, ((EqualsValueClauseSyntax)node).Value);
            return;
        }
        if (node is not AttributeSyntax && NestsTooDeep(node))
            return; // left unbound and unanalysed, as a body the compilation does not have
        IOperation? op = null;
        ISymbol? owner = null;
        switch (node)
        {
            case MethodDeclarationSyntax method:
                op = model.GetOperation(node);
                owner = DeclaredMethod(model, method);
                break;
            case BaseMethodDeclarationSyntax or AccessorDeclarationSyntax:
                op = model.GetOperation(node);
                owner = model.GetDeclaredSymbol(node);
                break;
            case ArrowExpressionClauseSyntax arrow:
                op = model.GetOperation(arrow);
                owner = (model.GetDeclaredSymbol(arrow.Parent!) as IPropertySymbol)?.GetMethod;
                break;
            case EqualsValueClauseSyntax { Parent: VariableDeclaratorSyntax v } eq:
                op = model.GetOperation(eq);
                owner = model.GetDeclaredSymbol(v);
                break;
            case EqualsValueClauseSyntax { Parent: PropertyDeclarationSyntax p } eq:
                op = model.GetOperation(eq);
                owner = model.GetDeclaredSymbol(p);
                break;
            case AttributeSyntax attribute:
                // An attribute's arguments are operations too (KH9001 reads them); they belong to no method body.
                op = model.GetOperation(attribute);
                var target = attribute.Parent?.Parent;
                owner = (target is null ? null : model.GetDeclaredSymbol(target)) ?? model.Compilation.Assembly;
                break;
        }
        if (op is null || owner is null)
            return;
        if (owner is IMethodSymbol ms && node is not AttributeSyntax)
            scan.AddMethod(ms, op, op);
        scan.Scan(op, owner);
        // Each function found here is where ScanOf will look for it: noted now, not searched for from its syntax.
        foreach (var m in scan.Methods)
            scanOf.TryAdd(m, scan);
    }

    /// <summary>
    /// The method a declaration declares, found among its type's members by name and the place of its name. The
    /// semantic model would look for the containing type anew for every member (most of the cost of
    /// <c>GetDeclaredSymbol</c>); the type is
    /// found once per type declaration. Anything else (a partial method's implementation part, an explicit
    /// interface implementation, whose names differ) is left to the model.
    /// </summary>
    private ISymbol? DeclaredMethod(SemanticModel model, MethodDeclarationSyntax method)
    {
        if (method.Parent is TypeDeclarationSyntax typeSyntax && files.TryGetValue(method.SyntaxTree, out var file)
            && file.DeclaredType(model, typeSyntax) is { } type)
        {
            var name = method.Identifier;
            foreach (var member in type.GetMembers(name.ValueText))
                if (member is IMethodSymbol { Locations: { Length: 1 } at } && at[0].SourceSpan == name.Span && at[0].SourceTree == method.SyntaxTree)
                    return member;
        }
        return model.GetDeclaredSymbol(method);
    }

    /// <summary>
    /// The field a field initializer names when it is nothing but that name (<c>kptr ring = NULL;</c>): a static
    /// readonly or constant field of the same struct or enum type. Such an initializer holds no call, delegate,
    /// allocation or time value for a rule to follow, only a use of the field, which KH9001 checks
    /// (<see cref="NamedFieldsIn"/>). Binding the initializer would cost more than a method body (the compiler
    /// keeps no initializer for the driver, so it is bound again, with nullable analysis); binding the name alone
    /// does not. Null when the initializer is anything else, or the name does not bind to such a field.
    /// </summary>
    private IFieldSymbol? NamedStaticValue(SemanticModel model, SyntaxNode node)
    {
        if (node is not EqualsValueClauseSyntax { Value: IdentifierNameSyntax name, Parent: VariableDeclaratorSyntax { Parent.Parent: FieldDeclarationSyntax } declarator })
            return null;
        // The name is what the same name denotes in a body of the same type already bound, when one names a static
        // field with it; else it is bound alone, speculatively, in the type's scope (at the field's own name), which
        // an initializer that is a bare name sees too: no initializer binding is set up, no nullable analysis runs.
        var found = (ISymbol?)StaticFieldNamedInType(node, name.Identifier.ValueText)
            ?? model.GetSpeculativeSymbolInfo(declarator.Identifier.SpanStart, name, SpeculativeBindingOption.BindAsExpression).Symbol;
        if (found is not IFieldSymbol { IsStatic: true } field || !(field.IsConst || field.IsReadOnly)
            || field.Type.TypeKind is not (TypeKind.Struct or TypeKind.Enum) || field.Type.SpecialType != SpecialType.None)
            return null;
        return model.GetDeclaredSymbol(declarator) is IFieldSymbol declared && SymbolEqualityComparer.Default.Equals(declared.Type, field.Type) ? field : null;
    }

    /// <summary>
    /// The static field that <paramref name="name"/>, written alone, denotes in the bodies of the type that declares
    /// <paramref name="initializer"/>, if one of them (bound already) uses it so. A simple name in a body that binds
    /// to a static field was looked up past the body's locals and parameters, in the type's scope and beyond, where
    /// the initializer's own lookup starts: it binds to the same field. Only the bodies of the same type
    /// declaration count (another part of a partial type has its own usings; a nested type, its own members).
    /// </summary>
    private IFieldSymbol? StaticFieldNamedInType(SyntaxNode initializer, string name)
    {
        var type = initializer.FirstAncestorOrSelf<TypeDeclarationSyntax>();
        if (type is null)
            return null;
        foreach (var d in DeclarationsOf(initializer.SyntaxTree).Declarations)
        {
            if (ReferenceEquals(d, initializer) || !type.Span.Contains(d.Span) || d.FirstAncestorOrSelf<TypeDeclarationSyntax>() != type
                || !scans.TryGetValue(d, out var scan) || !scan.IsFilled)
                continue;
            foreach (var op in scan.Sites)
                if (op.Kind == OperationKind.FieldReference && op.Syntax is IdentifierNameSyntax id && id.Identifier.ValueText == name
                    && ((IFieldReferenceOperation)op).Field is { IsStatic: true } field)
                    return field;
        }
        return null;
    }

    /// <summary>The fields named by initializers of <paramref name="tree"/> that are nothing but the name (see <see cref="NamedStaticValue"/>), with the name.</summary>
    public IEnumerable<(IFieldSymbol Field, SyntaxNode Name)> NamedFieldsIn(SyntaxTree tree)
    {
        foreach (var scan in ScanFile(tree).Scans!)
            if (scan.NamedField is { } named)
                yield return named;
    }

    /// <summary>The scan of the declaration whose code holds <paramref name="m"/>'s body (null outside source).</summary>
    private DeclarationScan? ScanOf(IMethodSymbol m)
    {
        // Asked at every call the engines follow; a method's declaring references are made anew on each request.
        if (scanOf.TryGetValue(m, out var known))
            return known;
        var found = FindScanOf(m);
        scanOf.TryAdd(m, found);
        return found;
    }

    private DeclarationScan? FindScanOf(IMethodSymbol m)
    {
        foreach (var reference in m.DeclaringSyntaxReferences)
        {
            if (!k.Compilation.ContainsSyntaxTree(reference.SyntaxTree))
                continue;
            for (var node = reference.GetSyntax(); node is not null; node = node.Parent)
            {
                if (node is ArrowExpressionClauseSyntax or BaseMethodDeclarationSyntax or AccessorDeclarationSyntax or EqualsValueClauseSyntax or AttributeSyntax && FileDeclarations.IsDeclarationWithCode(node))
                {
                    var scan = Scan(node);
                    if (scan.TryGetBody(m, out _, out _))
                        return scan;
                    break;
                }
                // An expression-bodied property's getter is declared by the property: its code is the arrow clause.
                if (node is PropertyDeclarationSyntax { ExpressionBody: { } body } && m.MethodKind == MethodKind.PropertyGet)
                {
                    var scan = Scan(body);
                    if (scan.TryGetBody(m, out _, out _))
                        return scan;
                    break;
                }
            }
        }
        return null;
    }

    // ------------------------------------------------------------------ questions

    public IOperation? BodyOf(IMethodSymbol m) => ScanOf(m) is { } s && s.TryGetBody(m, out var b, out _) ? b : null;

    /// <summary>What the calls in <paramref name="m"/>'s own code may do (<see cref="CallKinds"/>); none outside source.</summary>
    public CallKinds CallsOf(IMethodSymbol m) => ScanOf(m) is { } s ? s.CallsOf(m) : CallKinds.None;

    /// <summary><paramref name="m"/>'s body as structured code, or null when it needs its graph (see <see cref="DeclarationScan.StructuredOf"/>).</summary>
    public StructuredBody? StructuredOf(IMethodSymbol m, IOperation body) => ScanOf(m) is { } s ? s.StructuredOf(m, body) : StructuredBody.Of(body);

    /// <summary>The operation whose control-flow graph contains <paramref name="m"/> (itself for a member).</summary>
    public IOperation? RootOf(IMethodSymbol m) => ScanOf(m) is { } s && s.TryGetBody(m, out _, out var r) ? r : null;

    /// <summary>The declaration whose code holds <paramref name="m"/>'s body (null outside source).</summary>
    public SyntaxNode? DeclarationOf(IMethodSymbol m) => ScanOf(m)?.Declaration;

    /// <summary>The declarations of <paramref name="tree"/> whose code mentions <paramref name="name"/> (a syntactic prefilter).</summary>
    public Few<SyntaxNode> DeclarationsMentioning(SyntaxTree tree, string name)
    {
        var found = default(Few<SyntaxNode>);
        DeclarationsOf(tree).FindMentions(name, span: null, ref found);
        return found;
    }

    /// <summary>The methods, lambdas and local functions whose bodies lie in <paramref name="tree"/>, in source order.</summary>
    public List<IMethodSymbol> MethodsIn(SyntaxTree tree)
    {
        var file = ScanFile(tree);
        return file.Methods!;
    }

    /// <summary>The operations of <paramref name="tree"/>'s code of one kind, in source order.</summary>
    public FileOperations OperationsIn(SyntaxTree tree, OperationKind kind) => new(ScanFile(tree).Scans!, kind);

    private FileDeclarations ScanFile(SyntaxTree tree)
    {
        var file = DeclarationsOf(tree);
        if (Volatile.Read(ref file.Scans) is not null)
            return file;
        // Bodies first: an initializer that only names a field then finds the name already bound in them.
        foreach (var decl in file.Declarations)
            if (decl is not EqualsValueClauseSyntax)
                Scan(decl);
        var scans = new List<DeclarationScan>(file.Declarations.Count);
        int count = 0;
        foreach (var decl in file.Declarations)
        {
            var scan = Scan(decl);
            count += scan.MethodCount;
            scans.Add(scan);
        }
        var methods = new List<IMethodSymbol>(count);
        foreach (var scan in scans)
            foreach (var m in scan.Methods)
                methods.Add(m);
        file.Methods = methods;
        Volatile.Write(ref file.Scans, scans);
        return file;
    }

    /// <summary>
    /// Lets go of what was bound for one file once every rule has analysed it: its scans (and with them its
    /// operation trees), and its semantic model. What the rules concluded from them (summaries, registrations,
    /// call edges) stays. Kept, the trees of every file would live to the end of the compilation's analysis,
    /// and every garbage collection until then would have to trace them. A later question about the file binds
    /// the code it needs again.
    /// </summary>
    /// <returns>The scans let go of, for the caller to forget what it keyed on their operations.</returns>
    public IReadOnlyList<DeclarationScan> Release(SyntaxTree tree)
    {
        if (!files.TryRemove(tree, out var file))
            return System.Array.Empty<DeclarationScan>();
        // Once every rule has read the file's operations, its scans are the list the file kept of them; gathered
        // here only when no rule did.
        var gathered = file.Scans is null ? new List<DeclarationScan>() : null;
        foreach (var decl in file.Declarations)
        {
            if (!scans.TryRemove(decl, out var scan) || !scan.IsFilled)
                continue;
            gathered?.Add(scan);
            resolved.TryRemove(scan, out _);
            foreach (var m in scan.Methods)
                scanOf.TryRemove(m, out _);
        }
        models.Release(tree);
        return file.Scans ?? gathered!;
    }

    /// <summary>The calls of <paramref name="m"/> in the compilation (from the declarations that mention its name).</summary>
    public IReadOnlyList<CallEdge> CallersOf(IMethodSymbol m) => callers.TryGetValue(m, out var known) ? known : callers.GetOrAdd(m, FindCallers(m));

    private IReadOnlyList<CallEdge> FindCallers(IMethodSymbol target)
    {
        // Most functions asked about have no caller in source (a handler, a probe): they get the shared empty list.
        List<CallEdge>? list = null;
        // A property's accessor is called where the property is named.
        ISymbol named = target.MethodKind is MethodKind.PropertyGet or MethodKind.PropertySet && target.AssociatedSymbol is IPropertySymbol { IsIndexer: false } property ? property : target;
        foreach (var d in MentionersOf(named))
            if (Scan(d).Callers.TryGetValue(target, out var edges))
                (list ??= new List<CallEdge>(edges.Count)).AddRange(edges);
        return list ?? (IReadOnlyList<CallEdge>)System.Array.Empty<CallEdge>();
    }

    /// <summary>The operations of one kind in the code that mentions <paramref name="name"/> (a superset of those that use the symbol so named).</summary>
    public IEnumerable<OperationSite> OperationsMentioning(string name, OperationKind kind) => OperationsIn(MentionersOf(name), kind);

    /// <summary>The operations of one kind in the code that may use <paramref name="symbol"/> (see <see cref="MentionersOf(ISymbol)"/>).</summary>
    public IEnumerable<OperationSite> OperationsMentioning(ISymbol symbol, OperationKind kind) => OperationsIn(MentionersOf(symbol), kind);

    /// <summary>The operations of <paramref name="tree"/>'s code of every kind a rule reads by kind, in source order.</summary>
    public FileOperations OperationsIn(SyntaxTree tree) => new(ScanFile(tree).Scans!, kind: null);

    /// <summary>The declarations' operations of one kind.</summary>
    private IEnumerable<OperationSite> OperationsIn(Few<SyntaxNode> declarations, OperationKind kind)
    {
        foreach (var d in declarations)
        {
            var scan = Scan(d);
            var sites = scan.Sites;
            for (int i = 0; i < sites.Length; i++)
                if (sites[i].Kind == kind)
                    yield return new OperationSite(sites[i], scan.Member!);
        }
    }

    /// <summary>The function whose body holds the site's operation: the innermost lambda or local function, else the member.</summary>
    public static IMethodSymbol? EnclosingFunction(OperationSite site)
    {
        for (var p = site.Operation.Parent; p is not null; p = p.Parent)
        {
            if (p is IAnonymousFunctionOperation a)
                return a.Symbol;
            if (p is ILocalFunctionOperation lf)
                return lf.Symbol;
        }
        return site.Member as IMethodSymbol;
    }

    /// <summary>The declarations that assign a delegate to <paramref name="store"/> (a field, property or local).</summary>
    private IEnumerable<IOperation> DelegateStores(ISymbol store)
    {
        foreach (var d in MentionersOf(store))
        {
            if (Scan(d).DelegateStores.TryGetValue(store, out var stores))
                foreach (var s in stores)
                    yield return s;
        }
        // A field's or property's own initializer (`irq_handler_t quick = (irq, dev) => IRQ_HANDLED;`) stores into it
        // without naming it, so its mentions do not hold it.
        if (store is not (IFieldSymbol or IPropertySymbol))
            yield break;
        foreach (var reference in store.DeclaringSyntaxReferences)
        {
            var initializer = reference.GetSyntax() switch
            {
                VariableDeclaratorSyntax v => v.Initializer,
                PropertyDeclarationSyntax p => p.Initializer,
                _ => null,
            };
            if (initializer is null || !FileDeclarations.IsDeclarationWithCode(initializer) || !k.Compilation.ContainsSyntaxTree(initializer.SyntaxTree))
                continue;
            if (Scan(initializer).DelegateStores.TryGetValue(store, out var stores))
                foreach (var s in stores)
                    yield return s;
        }
    }

    /// <summary>
    /// The registrations of <paramref name="target"/> as a callback, in file order. A registration names the method
    /// (a method group, or a lambda that forwards to it), or a field or local a delegate to it was stored in:
    /// so the candidates are the code that mentions the method (only its own type's, when it is private), the
    /// code holding it when it is a lambda, and the code that mentions each place it is stored.
    /// </summary>
    public IReadOnlyList<ContextOrigin> RegistrationsOf(IMethodSymbol target) => RegistrationsOf(target, fromMentions: false);

    /// <summary>
    /// <see cref="RegistrationsOf(IMethodSymbol)"/>, with the candidates always found from the mentions of the
    /// name when <paramref name="fromMentions"/> (the tests' reference for the shortcut through a scanned type).
    /// </summary>
    internal IReadOnlyList<ContextOrigin> RegistrationsOf(IMethodSymbol target, bool fromMentions)
    {
        // Not kept: asked once per function, by CompilationModel.OwnContexts, which keeps the contexts they give.
        // Asked for every function of every file, and nearly always answered by one registration or none:
        // nothing is collected until something is found.
        List<ContextOrigin>? found = null;
        var seen = default(Few<DeclarationScan>); // nearly always one: compared one by one
        List<DeclarationScan>? viaStores = null;
        // A registration of a method this one overrides or implements (an interface's method named through an
        // interface-typed reference, a base class's abstract callback) may call this one: it reaches it too.
        var bases = target.MethodKind is MethodKind.AnonymousFunction or MethodKind.LocalFunction ? null : MembersImplementedBy(target);
        if (ScanOf(target) is { } own)
            Candidate(own);
        if (target.MethodKind is not (MethodKind.AnonymousFunction or MethodKind.LocalFunction))
        {
            if (!fromMentions && ScannedTypeOf(target) is { } type)
            {
                // Every declaration of the type is a candidate, scanned already: looking at each costs less than
                // finding those that mention the name, and the ones that do not register nothing for it.
                foreach (var scan in type.Scans)
                    if (type.Part.Contains(scan.Declaration.Span))
                        Candidate(scan);
            }
            else
            {
                foreach (var d in MentionersOf(target))
                    Candidate(Scan(d));
            }
            if (bases is not null)
                foreach (var b in bases)
                    foreach (var d in MentionersOf(b))
                        Candidate(Scan(d));
        }
        if (viaStores is not null)
            foreach (var scan in viaStores)
                Collect(scan);
        if (found is null)
            return System.Array.Empty<ContextOrigin>();
        if (found.Count > 1)
            found.Sort(InFileOrder);
        return found;

        // Code that names the method: it may register it, or store a delegate to it that code elsewhere registers.
        void Candidate(DeclarationScan scan)
        {
            foreach (var store in scan.DelegateStores)
                if (AnyDenotes(store.Value, target, bases))
                    foreach (var d in MentionersOf(store.Key))
                        (viaStores ??= new List<DeclarationScan>()).Add(Scan(d));
            Collect(scan);
        }

        void Collect(DeclarationScan scan)
        {
            if (scan.PendingRegistrations.Count == 0 || seen.Contains(scan))
                return;
            seen.Add(scan);
            foreach (var (t, origin) in Resolved(scan))
                if (IsTarget(t, target, bases) && !(found ??= new List<ContextOrigin>()).Contains(origin))
                    found.Add(origin);
        }
    }

    /// <summary>Is <paramref name="t"/> the target, or a method it overrides or implements?</summary>
    private static bool IsTarget(IMethodSymbol t, IMethodSymbol target, List<IMethodSymbol>? bases)
    {
        if (SymbolEqualityComparer.Default.Equals(t, target))
            return true;
        if (bases is not null)
            foreach (var b in bases)
                if (SymbolEqualityComparer.Default.Equals(t, b))
                    return true;
        return false;
    }

    /// <summary>The methods <paramref name="m"/> overrides (up the chain) or implements of an interface; null when none.</summary>
    private static List<IMethodSymbol>? MembersImplementedBy(IMethodSymbol m)
    {
        List<IMethodSymbol>? found = null;
        for (var o = m.OverriddenMethod; o is not null; o = o.OverriddenMethod)
            (found ??= new List<IMethodSymbol>(1)).Add(o.OriginalDefinition);
        foreach (var e in m.ExplicitInterfaceImplementations)
            (found ??= new List<IMethodSymbol>(1)).Add(e.OriginalDefinition);
        if (m.DeclaredAccessibility == Accessibility.Public && m.ContainingType is { } type && !type.AllInterfaces.IsEmpty)
            foreach (var i in type.AllInterfaces)
                foreach (var member in i.GetMembers(m.Name))
                    if (member is IMethodSymbol im && SymbolEqualityComparer.Default.Equals(type.FindImplementationForInterfaceMember(im)?.OriginalDefinition, m))
                        (found ??= new List<IMethodSymbol>(1)).Add(im.OriginalDefinition);
        return found;
    }

    /// <summary>
    /// For a private method of a type written in one part, in a file already scanned: the file and the part's span
    /// (everything that may name the method lies there). Null otherwise: the mentions decide what to bind.
    /// </summary>
    private (List<DeclarationScan> Scans, TextSpan Part)? ScannedTypeOf(IMethodSymbol m)
    {
        if (m.DeclaredAccessibility != Accessibility.Private || m.ContainingType is not { } type)
            return null;
        var parts = PartsOf(type);
        if (parts.Length != 1 || !files.TryGetValue(parts[0].SyntaxTree, out var file) || Volatile.Read(ref file.Scans) is not { } scans)
            return null;
        return (scans, parts[0].Span);
    }

    /// <summary>Does one of the delegates stored in a place denote <paramref name="target"/> (or a method it overrides or implements)?</summary>
    private bool AnyDenotes(List<IOperation> delegates, IMethodSymbol target, List<IMethodSymbol>? bases)
    {
        var targets = new List<IMethodSymbol>(1);
        foreach (var d in delegates)
            AddTargets(d, 1, targets);
        foreach (var t in targets)
            if (IsTarget(t, target, bases))
                return true;
        return false;
    }

    /// <summary>File, then position, then (for two registrations by one call) the words: a total order, so reports are stable.</summary>
    private static int InFileOrder(ContextOrigin a, ContextOrigin b)
    {
        int c = System.StringComparer.Ordinal.Compare(a.FilePath, b.FilePath);
        if (c == 0)
            c = a.Position.CompareTo(b.Position);
        return c != 0 ? c : System.StringComparer.Ordinal.Compare(a.Description, b.Description);
    }

    /// <summary>Is <paramref name="m"/> turned into a delegate somewhere other than a registration (so unknown code may call it)?</summary>
    public bool Escapes(IMethodSymbol m)
    {
        foreach (var d in MentionersOf(m))
            if (Scan(d).Escapes(m))
                return true;
        return false;
    }

    /// <summary>A registered lambda that only forwards to a method (the method got the registration).</summary>
    public bool IsForwarder(IMethodSymbol m)
    {
        // Resolving the registrations of the lambda's own code marks it (a lambda is registered where it is written).
        if (m.MethodKind == MethodKind.AnonymousFunction && !forwarders.ContainsKey(m))
            _ = RegistrationsOf(m);
        return forwarders.ContainsKey(m);
    }

    /// <summary>The registrations one declaration makes, with the methods each one denotes.</summary>
    private List<(IMethodSymbol Target, ContextOrigin Origin)> Resolved(DeclarationScan scan) => resolved.TryGetValue(scan, out var known) ? known : resolved.GetOrAdd(scan, Resolve(scan));

    private List<(IMethodSymbol Target, ContextOrigin Origin)> Resolve(DeclarationScan s)
    {
        var list = new List<(IMethodSymbol, ContextOrigin)>(s.PendingRegistrations.Count);
        var targets = new List<IMethodSymbol>(1);
        foreach (var (arg, spec, call, api) in s.PendingRegistrations)
        {
            targets.Clear();
            AddTargets(arg, 0, targets);
            foreach (var target in targets)
            {
                var param = spec.Parameter;
                var what = param == "handler" ? "the handler" : param == "thread_fn" ? "the thread_fn" : "the callback";
                list.Add((target, new ContextOrigin(spec.Context, target, what, api, call.Syntax)));
            }
        }
        return list;
    }

    /// <summary>
    /// The methods a delegate value may call: the method of a method group, a lambda (or the method it only forwards
    /// to), or each delegate stored in the field, property or local the value reads.
    /// </summary>
    public List<IMethodSymbol> DelegateTargets(IOperation value)
    {
        var targets = new List<IMethodSymbol>(1);
        AddTargets(value, 0, targets);
        return targets;
    }

    /// <summary>Adds the methods a delegate-valued expression may denote (a list, not an iterator: asked of every registration).</summary>
    private void AddTargets(IOperation? op, int depth, List<IMethodSymbol> into)
    {
        if (op is null || depth > 4)
            return;
        switch (op)
        {
            case IConversionOperation c:
                AddTargets(c.Operand, depth, into);
                break;
            case IDelegateCreationOperation d:
                AddTargets(d.Target, depth, into);
                break;
            case IMethodReferenceOperation m:
                into.Add(m.Method.OriginalDefinition);
                break;
            case IAnonymousFunctionOperation a:
                var fwd = Forwarded(a);
                if (fwd is not null)
                    forwarders.TryAdd(a.Symbol, true);
                into.Add(fwd ?? a.Symbol);
                break;
            case IFieldReferenceOperation or IPropertyReferenceOperation or ILocalReferenceOperation:
                var sym = DeclarationScan.SymbolOf(op);
                if (sym is not null)
                    foreach (var s in DelegateStores(sym))
                        AddTargets(s, depth + 1, into);
                break;
        }
    }

    /// <summary>
    /// Is the method written in source (it has declarations)? Its declarations are made into an array each time they
    /// are asked: a method of this compilation's own that is not implicitly declared has them, and is told so first.
    /// </summary>
    private bool IsDeclaredInSource(IMethodSymbol m)
        => SymbolEqualityComparer.Default.Equals(m.ContainingAssembly, k.Compilation.Assembly) && !m.IsImplicitlyDeclared
           || m.DeclaringSyntaxReferences.Length > 0;

    /// <summary>The source method a lambda only forwards to (<c>t =&gt; rx_poll()</c>): it inherits the registration.</summary>
    private IMethodSymbol? Forwarded(IAnonymousFunctionOperation a)
    {
        var stmts = a.Body.Operations;
        if (stmts.Length is < 1 or > 2)
            return null;
        IOperation? first = stmts[0] switch
        {
            IExpressionStatementOperation e => e.Operation,
            IReturnOperation r => r.ReturnedValue,
            _ => null,
        };
        if (stmts.Length == 2 && !(stmts[1] is IReturnOperation { ReturnedValue: null } || stmts[1] is IReturnOperation { IsImplicit: true }))
            return null;
        while (first is IConversionOperation c)
            first = c.Operand;
        if (first is IInvocationOperation inv && inv.TargetMethod.MethodKind == MethodKind.Ordinary && IsDeclaredInSource(inv.TargetMethod))
            return inv.TargetMethod.OriginalDefinition;
        return null;
    }
}
